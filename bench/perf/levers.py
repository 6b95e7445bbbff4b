"""``bench perf --levers``: each lever against the baseline, on the same batch, in one run.

A lever is a configuration of our side: an allocator (``LD_PRELOAD``), ``torch.compile(dynamic=True)``, or a
model variant from :mod:`bench.perf.variants`. Configurations run in groups of at most three worker processes
(memory), each group with its own reference (glibc for the allocator group, the baseline model under the
default allocator otherwise). Within a group the workers take turns, one training step each, ``rounds`` times;
figures are minima over rounds, of wall time and of process CPU time (the latter barely moves with other load
on the machine). Every variant is first checked to compute what the baseline computes
(:func:`bench.perf.variants.check_equivalence`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.perf.runner import WorkerProcess, _min_over_rounds, allocator_env, allocator_name, start_ours

ALL = ("builder", "allocator", "int64", "gather", "before", "fused", "skipunused", "layernorm", "compile")


def _configs(names: list[str]) -> list[list[dict]]:
    """Groups of configurations; the first of each group is its reference."""
    from bench.perf.variants import VARIANTS

    groups: list[list[dict]] = []
    if "allocator" in names:
        groups.append([{"name": f"baseline/{a}", "variant": "baseline", "allocator": a}
                       for a in ("system", "tcmalloc", "jemalloc")])
    rest = [n for n in names if n not in ("allocator", "baseline", "builder")]
    for n in rest:
        if n != "compile" and n not in VARIANTS:
            raise KeyError(f"unknown lever {n!r}; known: {', '.join(ALL)}")
    for i in range(0, len(rest), 2):
        group = [{"name": "baseline", "variant": "baseline", "allocator": "auto"}]
        for n in rest[i:i + 2]:
            group.append({"name": n, "variant": "baseline" if n == "compile" else n, "allocator": "auto",
                          "compile": n == "compile"})
        groups.append(group)
    return groups


def run_levers(levers: str, structures: int = 32, batch_size: int | None = None, rounds: int = 5, threads: int = 2,
               data_dir: str | None = None, log=print, size: str = "paper") -> dict:
    """``size``: the model size (:mod:`bench.perf.sizes`); ``batch_size`` None: that budget's batch."""
    from bench.perf.data import load_structures
    from bench.perf.sizes import get_size

    perf_size = get_size(size)
    batch_size = batch_size or perf_size.batch_size
    alignn = perf_size.alignn_kwargs()

    names = list(ALL) if levers.strip() == "all" else [x.strip() for x in levers.split(",") if x.strip()]
    groups = _configs(names)
    n = max(min(structures, 2 * batch_size), batch_size)  # batch 0 is timed; batch 1 (if any) only warms up
    data = load_structures(n, Path(data_dir) if data_dir else None)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-levers-"))
    t_start = time.perf_counter()
    out = {"config": {"size": perf_size.as_dict(), "levers": names, "structures": len(data["structures"]),
                      "batch_size": batch_size, "rounds": rounds, "threads": threads}, "groups": [],
           "loadavg_start": os.getloadavg(),
           "logs": str(log_dir)}
    if "builder" in names:
        log("lever: graph builders (before the levers, baseline), alternating per structure")
        w = start_ours(log_dir, threads, allocator_env("auto"), name="builders")
        try:
            w.call("init", structures=data["structures"], targets=data["targets"], threads=threads)
            ab = w.call("build_ab", builders=["before", "baseline"], rounds=rounds)
        finally:
            w.close()
        per = ab["per_structure_s"]
        mean = {b: [sum(x[k] for x in per[b]) / len(per[b]) for k in (0, 1)] for b in per}
        out["builder"] = {"equal_graphs": ab["equal"], "mean_s": mean,
                          "speedup": mean["before"][0] / mean["baseline"][0],
                          "speedup_cpu": mean["before"][1] / mean["baseline"][1]}
    for gi, group in enumerate(groups):
        log(f"lever group {gi + 1}/{len(groups)}: {', '.join(c['name'] for c in group)}")
        workers: list[WorkerProcess] = []
        rows = []
        try:
            for k, c in enumerate(group):
                env = allocator_env(c["allocator"])
                w = start_ours(log_dir, threads, env, name=f"g{gi}-{k}-{c['name'].replace('/', '-')}")
                workers.append(w)
                w.call("init", structures=data["structures"], targets=data["targets"], threads=threads)
                w.call("build")
                prep = w.call("prepare", batch_size=batch_size, seed=0,
                              options={"variant": c["variant"], "compile": bool(c.get("compile")),
                                       "alignn": alignn})
                row = {**c, "allocator": allocator_name(env), "params": prep["params"]}
                if c["variant"] != "baseline":
                    row["equivalence"] = w.call("equivalence", variant=c["variant"], batch=0,
                                                alignn=alignn)["equivalence"]
                rows.append(row)
            nb = len(prep["batch_sizes"])
            for w, row in zip(workers, rows):  # warm-up (compilation happens here): every batch once
                t0 = time.perf_counter()
                w.call("train", batches=list(range(nb)))
                row["warmup_s"] = time.perf_counter() - t0
            times = [[] for _ in workers]
            for r in range(rounds):
                order = list(range(len(workers)))
                order = order[r % len(order):] + order[:r % len(order)]
                for k in order:
                    times[k].append(workers[k].call("train", batches=[0])["times"][0])
            for k, row in enumerate(rows):
                best = _min_over_rounds([[t] for t in times[k]])[0]
                row.update({"step_s": best[0], "forward_s": best[1], "backward_s": best[2], "optimizer_s": best[3],
                            "cpu_s": best[4], "rounds_s": [t[0] for t in times[k]]})
        finally:
            finals = [w.close() for w in workers]
        for row, final in zip(rows, finals):
            row["peak_rss_kib"] = final.get("peak_kib")
        ref = rows[0]
        for row in rows:
            row["speedup"] = ref["step_s"] / row["step_s"]
            row["speedup_cpu"] = ref["cpu_s"] / row["cpu_s"]
        out["groups"].append({"reference": ref["name"], "rows": rows})
    out["loadavg_end"] = os.getloadavg()
    out["wall_s"] = time.perf_counter() - t_start
    shutil.rmtree(log_dir, ignore_errors=True)
    out.pop("logs", None)
    return out


def print_levers(res: dict, console) -> None:
    from rich.table import Table

    cfg = res["config"]
    b = res.get("builder")
    if b:
        console.print(f"graph build ({cfg['structures']} structures, min of {cfg['rounds']}): before the levers "
                      f"{b['mean_s']['before'][0] * 1e3:.2f} ms/structure, baseline {b['mean_s']['baseline'][0] * 1e3:.2f} "
                      f"ms/structure: {b['speedup']:.1f}× (CPU time {b['speedup_cpu']:.1f}×); identical graphs: "
                      f"{'yes' if b['equal_graphs'] else 'NO'}", highlight=False)
    if not res["groups"]:
        return
    size = cfg.get("size", {}).get("name", "paper")
    table = Table(title=f"bench perf --levers at the {size} size: one training step on a batch of "
                        f"{cfg['batch_size']} real structures, "
                        f"{cfg['threads']} threads, min of {cfg['rounds']} rounds")
    for col in ("lever", "allocator", "step s", "fwd / bwd / opt s", "CPU s", "speedup", "speedup (CPU)",
                "peak RSS MiB", "warm-up s", "equivalent"):
        table.add_column(col, justify="left" if col in ("lever", "allocator") else "right")
    for g in res["groups"]:
        for row in g["rows"]:
            eq = row.get("equivalence")
            table.add_row(row["name"], row["allocator"], f"{row['step_s']:.3g}",
                          f"{row['forward_s']:.3g} / {row['backward_s']:.3g} / {row['optimizer_s']:.3g}",
                          f"{row['cpu_s']:.3g}", f"{row['speedup']:.2f}×", f"{row['speedup_cpu']:.2f}×",
                          f"{(row['peak_rss_kib'] or 0) / 1024:.0f}", f"{row['warmup_s']:.0f}",
                          "—" if eq is None else ("yes" if eq["ok"] else f"NO ({eq['grad_rel']:.1e})"))
        table.add_section()
    console.print(table)
    console.print(f"speedups are against the first row of each group; load average {res['loadavg_start'][0]:.1f} "
                  f"at start, {res['loadavg_end'][0]:.1f} at end; wall {res['wall_s']:.0f} s", highlight=False)
