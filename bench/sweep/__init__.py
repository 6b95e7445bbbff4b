"""Sweeps: the grid of strategies x FT sizes x trials behind the paper's comparison, run one cell after another
or on a Dask cluster; cells whose record is committed, or that finished in MLflow, are skipped, so a grid can be
continued on any machine. ``grid`` (cells, summary), ``spec`` (how it runs), ``plan`` (what must run),
``execute`` (running it), ``dask_engine``, ``jobs`` (what a worker runs), ``resume`` (records, MLflow)."""

from bench.sweep.execute import SweepOutcome, run_sweep
from bench.sweep.grid import Cell, grid, parse_trials, summarise
from bench.sweep.spec import SweepError, SweepSpec

__all__ = ["Cell", "SweepError", "SweepOutcome", "SweepSpec", "grid", "parse_trials", "run_sweep", "summarise"]
