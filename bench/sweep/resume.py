"""What a sweep need not run again: cells whose record is committed under ``leaderboard/results/`` (so a grid can
be continued on any machine that has the repository), and cells finished in the local MLflow store."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Settings that say where a run went, not what it computed: a record made on a GPU, or with another
# checkpoint interval, stands for the same cell (``bench.run.run_key`` leaves them out too).
_WHERE = ("device", "checkpoint_every_s")


def _what(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "train"} | {
        "train": {k: v for k, v in config.get("train", {}).items() if k not in _WHERE}}


class CommittedRecords:
    """The result records of a results folder, found by run key, or by configuration and data hash (so a record
    still matches if the way keys are derived changes)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.by_key: dict[str, tuple[Path, dict]] = {}
        self._by_config: dict[str, tuple[Path, dict]] = {}
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                record = json.loads(path.read_text())
                key, config, data_hash = record["run_key"], record["config"], record["data_hash"]
                float(record["test_metrics"]["mae"])  # what the summary reads
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"committed record {path} is not valid JSON ({err}); fix or remove it") from None
            except (KeyError, TypeError) as err:
                raise ValueError(f"committed record {path} lacks {err} (a record needs run_key, config, data_hash "
                                 f"and test_metrics); fix or remove it") from None
            self.by_key[key] = (path, record)
            self._by_config[self._config_id(config, data_hash)] = (path, record)

    @staticmethod
    def _config_id(config: dict, data_hash: str) -> str:
        return json.dumps(_what(config), sort_keys=True, default=str) + data_hash

    def find(self, key: str, config: dict, data_hash: str) -> tuple[Path, dict] | None:
        return self.by_key.get(key) or self._by_config.get(self._config_id(config, data_hash))


def finished_in_mlflow(tracker, task: str, key: str) -> dict | None:
    """Test metrics of a finished MLflow run with this run key, if any."""
    exp = tracker.client.get_experiment_by_name(task)
    if exp is None:
        return None
    runs = tracker.client.search_runs([exp.experiment_id],
                                      filter_string=f"tags.run_key = '{key}' and attributes.status = 'FINISHED'",
                                      max_results=1)
    if not runs:
        return None
    m = runs[0].data.metrics
    return {k[len("test_"):]: v for k, v in m.items() if k.startswith("test_")} | {"run_id": runs[0].info.run_id}


def write_record(text: str, out_dir: Path) -> Path:
    """Write a run's ``result.json`` text as a committed record; atomic, so a reader (or a ``git add`` while the
    sweep goes on) never sees half a file."""
    from bench.records import record_name

    dest = Path(out_dir) / record_name(json.loads(text))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".", suffix=".json.tmp")  # not *.json: readers skip it
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
