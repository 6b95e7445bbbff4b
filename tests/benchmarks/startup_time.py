"""Wall time of ``bench --help`` against ``python -c pass``: median of N runs of each, interleaved.

    python tests/benchmarks/startup_time.py [N] [-- ARGS...]     # default: 10 runs of `bench --help`

Interleaving the two commands puts both under the same load, so their difference is the cost of our imports
and of rendering the help, whatever else the machine is doing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def wall_times(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def compare(args: list[str], runs: int = 10) -> dict[str, float]:
    """Medians in seconds: ``bench`` (``python -m bench ARGS``), ``python`` (``python -c pass``), ``overhead``."""
    bench, bare = [], []
    for _ in range(runs):
        bench += wall_times([sys.executable, "-m", "bench", *args], 1)
        bare += wall_times([sys.executable, "-c", "pass"], 1)
    b, p = statistics.median(bench), statistics.median(bare)
    return {"bench": b, "python": p, "overhead": b - p, "min_bench": min(bench), "runs": runs}


if __name__ == "__main__":
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else ["--help"]
    n = int(argv[0]) if argv and argv[0] != "--" else 10
    res = compare(extra, n)
    load = os.getloadavg()[0]
    print(f"bench {' '.join(extra)}: median {res['bench'] * 1000:.0f} ms (min {res['min_bench'] * 1000:.0f}), "
          f"python -c pass: {res['python'] * 1000:.0f} ms, our cost {res['overhead'] * 1000:.0f} ms; "
          f"{n} runs each, load {load:.2f}")
