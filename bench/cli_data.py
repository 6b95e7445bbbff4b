"""``bench data``: fetch task sources, register your own data."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Download task sources or add your own dataset.", no_args_is_help=True)
