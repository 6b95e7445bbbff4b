"""Every registered task trains end to end at the smoke budget (the API behind `bench run`)."""

import math

import pytest
from rich.console import Console

from bench import paths
from tasks import all_tasks


def _present(task) -> bool:
    return all(p.exists() for p in task.paths(paths.data_dir()))


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_smoke_run(name, data_dir):
    from bench.run import run_benchmark

    task = all_tasks()[name]
    if not _present(task):
        pytest.skip(f"{name}: source not present here (large download: `bench data fetch {name}`)")
    result = run_benchmark(name, "scratch", "smoke", seed=0, device="cpu", console=Console(quiet=True))
    assert set(result.test_metrics) == {"mae", "rmse", "r2", "mad_mae"}
    assert all(math.isfinite(v) for k, v in result.test_metrics.items() if k != "mad_mae")


def test_registry_has_at_least_twenty_tasks():
    assert len(all_tasks()) >= 20, sorted(all_tasks())
