"""The ``bench perf`` table: ours, peer and the ratio (> 1: ours better) for each figure."""

from __future__ import annotations


def _fmt(x, unit: str = "", digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, int) and not unit:
        return f"{x:,}"
    return f"{x:.{digits}g}{unit}"


def rows(res: dict) -> list[tuple[str, str, str, str]]:
    """``(figure, ours, peer, ratio)`` rows."""
    o = res["sides"]["ours"]
    p = res["sides"].get("peer")
    ratio = res.get("ratios", {})

    def pair(get, unit="", digits=3):
        return _fmt(get(o), unit, digits), (_fmt(get(p), unit, digits) if p else "—")

    def r(key):
        return f"{ratio[key]:.2f}×" if key in ratio else "—"

    mib = lambda s: s["rss"]["peak_kib"] / 1024 if s["rss"]["peak_kib"] else None  # noqa: E731
    return [
        ("graph build, ms/structure (crystal + line graph)", *pair(lambda s: s["build"]["mean_s"] * 1e3), r("graph_build")),
        (f"train step, s (batch {_first_size(res)['batch_size']})", *pair(lambda s: s["train"]["step_s"]), r("train_step")),
        ("train, structures/s", *pair(lambda s: s["train"]["structures_per_s"]), r("train_step")),
        ("  forward / backward / optimizer, s per epoch", *pair(
            lambda s: None if s is None else None), ""),
        ("inference, structures/s", *pair(lambda s: s["infer"]["structures_per_s"]), r("inference")),
        ("peak RSS, MiB", *pair(mib, "", 4), r("peak_rss")),
        ("parameters", *pair(lambda s: s["params"]), "—"),
        ("triplets (all structures)", *pair(lambda s: s["totals"]["triplets"]), "—"),
        ("train GFLOP/structure (GEMM count)", *pair(lambda s: s["train"]["flops_per_structure"] / 1e9), "—"),
        ("train GFLOP/s achieved", *pair(lambda s: s["train"]["achieved_flops_per_s"] / 1e9), "—"),
        ("fraction of GEMM-peak floor (train)", *pair(lambda s: s["train"]["flop_fraction"]), "—"),
        ("fraction of GEMM-peak floor (inference)", *pair(lambda s: s["infer"]["flop_fraction"]), "—"),
    ]


def _first_size(res: dict) -> dict:
    # results written before --size existed: the paper size at the configured batch
    sizes = res.get("sizes") or [{"name": "paper", "batch_size": res["config"]["batch_size"],
                                  "alignn": {"alignn_layers": 4, "gcn_layers": 4, "hidden_features": 256,
                                             "embedding_features": 64}}]
    return sizes[0]


def size_label(size: dict) -> str:
    a = size["alignn"]
    return (f"{size['name']} size: ALIGNN {a['alignn_layers']}+{a['gcn_layers']} layers, hidden "
            f"{a['hidden_features']}, embedding {a['embedding_features']}, batch {size['batch_size']}")


def size_rows(res: dict) -> list[tuple[str, ...]]:
    """One row per measured size: ``(size, parameters, ours step s, peer step s, train ratio, CPU ratio,
    per-FLOP ratio, inference ratio)``."""
    out = []
    for size in res.get("sizes", []):
        cell = res["by_size"][size["name"]]
        o, p = cell["sides"]["ours"], cell["sides"].get("peer")
        ratio = cell.get("ratios", {})
        r = lambda key: f"{ratio[key]:.2f}×" if key in ratio else "—"  # noqa: E731
        a = size["alignn"]
        short = (f"{size['name']}: {a['alignn_layers']}+{a['gcn_layers']} layers, hidden {a['hidden_features']}, "
                 f"batch {size['batch_size']}")
        out.append((short, f"{o['params']:,}", f"{o['train']['step_s']:.3g}",
                    f"{p['train']['step_s']:.3g}" if p else "—", r("train_step"), r("train_step_cpu"),
                    r("train_step_per_flop"), r("inference")))
    return out


def print_sizes(res: dict, console) -> None:
    """The training ratios of every size measured in this run (``--size both``), in one table."""
    from rich.table import Table

    table = Table(title="training and inference ratios by model size, measured in the same run (>1: ours better)")
    for col in ("size", "parameters", "ours step s", "upstream step s", "train", "train (CPU)", "train per FLOP",
                "inference"):
        table.add_column(col, justify="left" if col == "size" else "right", no_wrap=True)
    for row in size_rows(res):
        table.add_row(*row)
    console.print(table)


def breakdown(side: dict | None) -> str:
    if side is None:
        return "—"
    t = side["train"]
    return f"{t['forward_s']:.3g} / {t['backward_s']:.3g} / {t['optimizer_s']:.3g}"


def print_report(res: dict, console) -> None:
    from rich.table import Table

    o, p = res["sides"]["ours"], res["sides"].get("peer")
    peer_name = f"upstream alignn {p['info'].get('alignn', '')}" if p else "peer (disabled)"
    table = Table(title=f"bench perf at the {size_label(_first_size(res))}: {res['structures']['n']} structures, "
                        f"{res['config']['threads']} threads, allocator {res['allocator']}, min of "
                        f"{res['config']['rounds']} rounds")
    table.add_column("figure")
    table.add_column("ours", justify="right")
    table.add_column(peer_name, justify="right")
    table.add_column("ratio (>1: ours better)", justify="right")
    for fig, a, b, c in rows(res):
        if fig.strip().startswith("forward /"):
            a, b = breakdown(o), breakdown(p)
        table.add_row(fig, a, b, c)
    console.print(table)
    if len(res.get("sizes", [])) > 1:
        print_sizes(res, console)
        console.print("graph build, edge parity and peak RSS above cover the whole run (every size); the "
                      "detailed figures are the first size's", highlight=False)
    gemm = res["gemm"]
    fc = res["flop_check"]
    console.print(f"GEMM peak (torch.matmul float32, {gemm['threads']} threads): "
                  f"{gemm['peak_flops_per_s'] / 1e9:.1f} GFLOP/s; FLOP count check on batch 0: analytic "
                  f"{(fc['analytic_forward'] + fc['analytic_backward']) / 1e9:.2f} GFLOP vs FlopCounterMode "
                  f"{(fc['forward'] + fc['backward']) / 1e9:.2f} GFLOP", highlight=False)
    parity = res.get("edge_parity")
    if parity:
        line = (f"edge parity: {parity['identical']}/{parity['structures']} structures with identical directed "
                f"(i, j, image) edge multisets ({parity['edges_compared']:,} edges); triplet counts equal for "
                f"{parity['triplet_counts_equal']}/{parity['structures']}")
        if parity["mismatches"]:
            ties = sum(m.get("differing_at_tie", 0) for m in parity["mismatches"])
            diff = sum(m.get("differing", 0) for m in parity["mismatches"])
            line += (f"\n  differing edges: {diff} in {len(parity['mismatches'])} structures, {ties} of them within "
                     "1e-5 Å of an end atom's 12th-neighbour distance (a tie: our rule keeps it, upstream's exact "
                     "comparison decides it by rounding)")
            t0 = parity.get("tolerance_0")
            if t0:
                line += (f"\n  with our tie tolerance set to 0: {t0['identical']}/{t0['structures']} structures "
                         "identical")
            for m in parity["mismatches"][:8]:
                line += (f"\n  {m['id']}: ours {m['ours']} edges, upstream {m['peer']} (only ours {m['only_ours']}, "
                         f"only upstream {m['only_peer']}; at a tie {m.get('differing_at_tie', '?')})")
        console.print(line, highlight=False)
    ratios = res.get("ratios")
    if ratios:
        console.print(f"CPU-time ratios (robust to other load): graph build {ratios['graph_build_cpu']:.2f}×, "
                      f"train {ratios['train_step_cpu']:.2f}×, inference {ratios['inference_cpu']:.2f}×; per GEMM "
                      f"FLOP (different triplet counts): train {ratios['train_step_per_flop']:.2f}×, inference "
                      f"{ratios['inference_per_flop']:.2f}×", highlight=False)
    la = res.get("loadavg_start"), res.get("loadavg_end")
    if all(la):
        console.print(f"load average at start {la[0][0]:.1f}, at end {la[1][0]:.1f} (this machine has "
                      f"{__import__('os').cpu_count()} CPUs)", highlight=False)
    console.print(f"wall time {res['wall_s']:.0f} s", highlight=False)
