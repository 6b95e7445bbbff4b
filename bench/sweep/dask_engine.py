"""Sweeps on Dask distributed: a ``LocalCluster`` of worker processes here, or a running cluster
(``--scheduler tcp://HOST:PORT``, e.g. one that dask-jobqueue started on Slurm; docs/sweeps.md).

One task per pre-training run, given priority; each cell is a task that depends on the pre-training it needs,
so a trunk is built once and before its cells while cells needing none start at once. A cell that raises is
retried ``spec.retries`` times; a cell whose worker dies (killed, out of memory, machine lost) is rescheduled
by Dask on another worker (``distributed.scheduler.allowed-failures`` times) and resumes from its checkpoint.
Task keys are the run keys, so a cell is one task even if two clients submit it to one scheduler."""

from __future__ import annotations

import importlib.util
import logging
from contextlib import contextmanager

from bench.sweep.spec import SweepError, SweepSpec


def _executing(dask_worker) -> list[str]:
    """Runs on each worker (``Client.run``): keys of the tasks it is executing now."""
    return [str(ts.key) for ts in dask_worker.state.executing]


def require_dask() -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise SweepError("--workers N (N > 1) and --scheduler run cells on Dask, which is not installed here: "
                         "pip install 'tl-bench[sweep]' (or 'dask[distributed]'); --workers 1 runs without it"
                         ) from None


@contextmanager
def _client(spec: SweepSpec):
    import dask
    from dask.distributed import Client, LocalCluster

    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise SweepError(f"no Dask scheduler answered at {spec.scheduler}: {err}") from None
        with client:
            yield client
        return
    # Saturation 1.0: a worker holds only the cell it runs. With the default (1.1, i.e. two tasks per
    # one-thread worker) a long cell could wait behind another on a busy worker while a second worker idles.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        # ":0": a free port; the default 8787 is taken whenever another sweep or cluster runs on the machine
        cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with Client(cluster) as client:
            yield client
    finally:
        # A worker takes ~4 s to leave Python after torch was loaded (interpreter teardown, in C), so the nanny
        # kills it at close and warns; that says nothing about the sweep. Warnings during it (lost workers) stay.
        nanny = logging.getLogger("distributed.nanny")
        level = nanny.level
        nanny.setLevel(logging.ERROR)
        try:
            cluster.close()
        finally:
            nanny.setLevel(level)


def _running(client, cell_keys) -> int:
    """Cells executing now (pre-training runs, which also hold a worker, are not cells)."""
    try:
        per_worker = client.run(_executing, on_error="ignore")
    except Exception:  # a worker restarting: the count is only for the progress line
        return 0
    return sum(1 for keys in per_worker.values() if isinstance(keys, list) for k in keys if k in cell_keys)


def _dashboard(client) -> str:
    # The scheduler serves its HTTP endpoints either way; the dashboard pages need bokeh
    return f"; dashboard {client.dashboard_link}" if importlib.util.find_spec("bokeh") else ""


def run_on_dask(spec: SweepSpec, plan, out) -> None:
    from dask.distributed import as_completed

    from bench.sweep.jobs import run_cell, run_pretrain

    console = out.progress.console
    with _client(spec) as client:
        if spec.scheduler:
            try:
                client.wait_for_workers(1, timeout=120)
            except TimeoutError:
                raise SweepError(f"the Dask cluster at {spec.scheduler} has no workers (waited 2 min)") from None
        workers = client.nthreads()
        out.progress.slots = sum(workers.values()) or 1
        console.print(f"Dask: {len(workers)} worker(s), {out.progress.slots} cell(s) at a time, "
                      f"{spec.worker_threads} torch thread(s) per cell; scheduler {client.scheduler.address}"
                      + _dashboard(client), highlight=False)
        pre = {key: client.submit(run_pretrain, job, key=f"pretrain-{key}", pure=False, retries=spec.retries,
                                  priority=10) for key, job in plan.pretrain.items()}
        cells, futures = {}, list(pre.values())
        for job in plan.jobs:
            deps = [pre[job.pretrain_key]] if job.pretrain_key in pre else []
            fut = client.submit(run_cell, job, *deps, key=f"cell-{job.key}", pure=False, retries=spec.retries)
            cells[fut.key] = job
            futures.append(fut)
        pre_jobs = {fut.key: plan.pretrain[key] for key, fut in pre.items()}
        broken: dict[str, str] = {}
        for fut in as_completed(futures):
            running = _running(client, cells)
            if fut.key in pre_jobs:
                job = pre_jobs[fut.key]
                if fut.status == "finished":
                    out.pretrained(job, fut.result())
                else:
                    err = fut.exception()
                    broken[job.key] = f"its pre-training {job.key} failed: {type(err).__name__}: {err}"
                    console.print(f"[red]Pre-training {job.key} failed[/] (log: {job.log})", highlight=False)
                continue
            job = cells[fut.key]
            if fut.status == "finished":
                out.done(job, fut.result(), running)
            else:
                out.fail(job, broken.get(job.pretrain_key) or fut.exception(), running)
