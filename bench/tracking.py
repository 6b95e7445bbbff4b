"""MLflow tracking: one MLflow run per benchmark run, in a sqlite store by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.paths import default_tracking_uri

TAG_LIMIT = 5000  # characters kept of a tag's value
NOTE_TAG = "mlflow.note.content"  # the run page's "Description", markdown
# On a pre-training run: the ids of the fine-tuning runs that started from its trunk (most recent last)
FINETUNING_TAG = "finetuning_runs"

# Stores this process has opened once already: only a store's first use needs the cross-process lock.
_OPENED: set[str] = set()


def run_url_path(experiment_id: str, run_id: str) -> str:
    """A run's page relative to the MLflow UI's root (its hash routes), for links inside run notes."""
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def _open_client(mlflow, uri: str):
    """An MLflow client; the first use of a sqlite store (which creates its tables) is serialised among
    processes by a lock beside the database, so that two runs on a fresh home never race on table creation."""
    if uri in _OPENED or not uri.startswith("sqlite:///"):
        client = mlflow.MlflowClient(tracking_uri=uri)
    else:
        from bench.locks import first_use

        with first_use(Path(uri[len("sqlite:///"):])):
            client = mlflow.MlflowClient(tracking_uri=uri)  # constructing it opens the store
            client.search_experiments(max_results=1)
    _OPENED.add(uri)
    return client


class Tracker:
    """Thin wrapper over the MLflow client; experiments are named after tasks."""

    def __init__(self, tracking_uri: str | None = None):
        import mlflow

        self.uri = tracking_uri or default_tracking_uri()
        self.client = _open_client(mlflow, self.uri)
        self.run_id: str | None = None
        self.ended = False  # set once the run has a final status (see ``end_on_error``)

    def experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=self._artifact_location(name))
        except Exception:  # another process created it between our look-up and our create: use theirs
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def _artifact_location(self, name: str) -> str | None:
        # With a sqlite store MLflow would put artifacts under ./mlruns of whatever directory the user is in;
        # keep them next to the database instead.
        if self.uri.startswith("sqlite:///"):
            root = Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts" / name
            return root.resolve().as_uri()
        return None

    def start(self, experiment: str, run_name: str, resume_run_id: str | None = None,
              tags: dict[str, str] | None = None) -> str:
        self.ended = False
        if resume_run_id:
            try:
                run = self.client.get_run(resume_run_id)
                if run.info.lifecycle_stage == "active":
                    self.run_id = resume_run_id
                    self.client.update_run(resume_run_id, status="RUNNING")
                    return self.run_id
            except Exception:  # the store was reset or moved: start a new run
                pass
        run = self.client.create_run(self.experiment(experiment), run_name=run_name, tags=tags or {})
        self.run_id = run.info.run_id
        return self.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        new = [Param(k, v[:6000]) for k, v in flatten(params).items() if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(self.run_id, params=new[start:start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, step or 0) for k, v in metrics.items()])

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)[:TAG_LIMIT]) for k, v in tags.items()])

    def link_pretraining(self, pt_run_id: str, console=None) -> None:
        """Tie this fine-tuning run and the pre-training run of its trunk together, both ways: this run gets
        the tag ``pretraining_run_id`` and a note linking that run's page; the pre-training run's
        ``finetuning_runs`` tag gets this run appended. Idempotent (a resumed run is listed once). The link is
        a convenience: a store that cannot give the pre-training run (another store, deleted) leaves a note
        saying so, and the fine-tuning run goes on."""
        tags = {"pretraining_run_id": pt_run_id}
        try:
            pt = self.client.get_run(pt_run_id)
        except Exception:  # trained against another store, or deleted since
            pt = None
        if pt is None:
            tags[NOTE_TAG] = (f"Fine-tuned from the trunk of pre-training run `{pt_run_id}`, which is not in this "
                              f"MLflow store ({self.uri}).")
            self.set_tags(tags)
            return
        name = pt.data.tags.get("mlflow.runName", pt_run_id)
        sources = pt.data.tags.get("sources", "")
        tags[NOTE_TAG] = (f"Fine-tuned from the trunk of pre-training run [{name}]"
                          f"({run_url_path(pt.info.experiment_id, pt_run_id)})"
                          + (f" (sources: {sources})" if sources else "") + f"; run id `{pt_run_id}`.")
        self.set_tags(tags)
        listed = [r for r in pt.data.tags.get(FINETUNING_TAG, "").split(",") if r]
        if self.run_id in listed:
            return
        listed.append(self.run_id)
        # a tag holds 5000 characters here (~150 ids): keep the most recent, and count them all
        kept = listed[-(TAG_LIMIT // (len(self.run_id) + 1)):]
        try:
            from mlflow.entities import RunTag

            self.client.log_batch(pt_run_id, tags=[RunTag(FINETUNING_TAG, ",".join(kept)),
                                                   RunTag(f"{FINETUNING_TAG}_count", str(len(listed)))])
        except Exception as err:  # e.g. the pre-training run was deleted meanwhile: this run is unaffected
            if console is not None:
                console.print(f"[yellow]note:[/] could not list this run on pre-training run {pt_run_id}: {err}",
                              markup=True, highlight=False)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_json(self, obj: Any, name: str) -> None:
        self.client.log_text(self.run_id, json.dumps(obj, indent=2, default=str), name)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
        self.ended = True

    def end_on_error(self, err: BaseException, stopped_by_caller: bool = False) -> None:
        """Give a run that an exception is leaving its final status, so none stays RUNNING: KILLED when it
        was interrupted (Ctrl-C, SIGTERM, a caller stopping it on purpose such as an Optuna pruner), FAILED
        for any other error. A failure to reach the store here must not hide ``err``: it is only reported."""
        if self.run_id is None or self.ended:
            return
        status = "KILLED" if stopped_by_caller or not isinstance(err, Exception) else "FAILED"
        try:
            self.finish(status)
        except Exception as store_err:  # the store itself may be what failed
            import sys

            print(f"warning: could not mark MLflow run {self.run_id} {status}: {store_err}", file=sys.stderr)

    def download(self, run_id: str, artifact_path: str, dst: Path) -> Path:
        import mlflow

        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                        dst_path=str(dst), tracking_uri=self.uri))
