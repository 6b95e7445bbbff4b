"""`bench --help` stays fast: a guard on the modules it imports (the wall time is in tests/benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Rendering typer's rich help imported ~100 ms of these (about 1 s on the loaded 2-core machine); pydantic is
# what typer coerces a non-bool flag value with; the rest are the heavy libraries of the commands' bodies.
SLOW = ("rich", "markdown_it", "pygments", "typer.rich_utils", "pydantic", "pandas", "numpy", "torch",
        "torch_geometric", "mlflow", "pymatgen", "matbench", "optuna", "matplotlib", "sklearn", "jarvis")


def _help(*args: str) -> tuple[str, list[str]]:
    """(help text, every module loaded) of ``bench ARGS`` in a fresh interpreter."""
    code = ("import json, sys, io, contextlib\n"
            f"sys.argv = ['bench', *{list(args)!r}]\n"
            "from bench.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n    try:\n        main()\n    except SystemExit:\n        pass\n"
            "print(json.dumps([out.getvalue(), sorted(sys.modules)]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    text, modules = json.loads(proc.stdout)
    return text, modules


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("data", "--help"),
                                  ("leaderboard", "build", "--help")])
def test_help_imports_no_slow_module(args):
    text, modules = _help(*args)
    assert text.startswith("Usage: bench")
    loaded = [m for m in modules if m in SLOW or m.split(".")[0] in SLOW or m in ("rich.markdown",)]
    assert not loaded, f"bench {' '.join(args)} imported {loaded}"


def test_help_lists_every_command_with_its_one_line_help():
    import typer.main

    from bench.cli import app

    group = typer.main.get_command(app)
    text, _ = _help("--help")
    flat = " ".join(text.split())
    for name, cmd in group.commands.items():
        first = cmd.get_short_help_str(limit=1000)
        assert first and not first.endswith("..."), name
        assert f"{name} {first}" in flat, f"`bench --help` lacks {name!r} with {first!r}"
    run_help = " ".join(_help("run", "--help")[0].split())
    assert "Train on a task with a strategy" in run_help and "--task" in run_help and "--budget" in run_help
