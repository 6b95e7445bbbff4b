"""Run training under tcmalloc (or jemalloc) when installed. glibc malloc was once measured here to make
an ALIGNN training step ~2.5x slower; our own measurements (PERFORMANCE.md, on a shared machine) show no
reliable speed-up but ~22 % lower peak memory with tcmalloc, which is why it stays on. The allocator must be
preloaded before Python starts, so heavy commands re-execute the interpreter once with ``LD_PRELOAD`` set.
``BENCH_ALLOCATOR=system`` opts out.
"""

from __future__ import annotations

import glob
import os
import sys

CANDIDATES = {
    "tcmalloc": ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
                 "/usr/lib*/libtcmalloc_minimal.so*"),
    "jemalloc": ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
                 "/usr/lib*/libjemalloc.so*"),
}


def find_allocator(preference: str = "tcmalloc") -> str | None:
    order = [preference] + [k for k in CANDIDATES if k != preference]
    for name in order:
        for pattern in CANDIDATES.get(name, ()):
            hits = sorted(glob.glob(pattern))
            if hits:
                return hits[0]
    return None


def maybe_reexec(argv: list[str]) -> None:
    """Replace this process by the same command with a fast allocator preloaded (at most once)."""
    choice = os.environ.get("BENCH_ALLOCATOR", "tcmalloc")
    if choice == "system" or os.environ.get("_BENCH_REEXEC") or not sys.platform.startswith("linux"):
        return
    if any(name in os.environ.get("LD_PRELOAD", "") for name in CANDIDATES):
        return
    lib = find_allocator(choice)
    if lib is None:
        return
    env = dict(os.environ, _BENCH_REEXEC="1",
               LD_PRELOAD=":".join(filter(None, [lib, os.environ.get("LD_PRELOAD")])))
    if "jemalloc" in lib:
        # jemalloc's default decay returns memory too eagerly for training's allocation churn
        env.setdefault("MALLOC_CONF", "background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:10000")
    os.execve(sys.executable, [sys.executable, "-m", "bench", *argv], env)
