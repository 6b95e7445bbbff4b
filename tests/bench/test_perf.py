"""``bench perf``: our side of the benchmark on a few real structures (peer disabled), the FLOP count, the edge
parity check. The comparison with upstream alignn itself is a benchmark run (PERFORMANCE.md), not a unit test."""

from __future__ import annotations

import json

import pytest

from bench.perf import flops
from bench.perf.runner import edge_parity


def _app():
    import typer

    from bench.cli_perf import perf

    app = typer.Typer()
    app.command()(perf)
    return app


def test_perf_ours_only_on_five_structures(data_dir, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(_app(), ["--structures", "5", "--batch-size", "5", "--rounds", "1", "--no-peer",
                                         "--data-dir", str(data_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "graph build" in result.output and "inference, structures/s" in result.output
    res = json.loads(out.read_text())
    assert set(res["sides"]) == {"ours"} and "ratios" not in res and "edge_parity" not in res
    ours = res["sides"]["ours"]
    assert res["structures"]["n"] == 5 and len(ours["build"]["per_structure_s"]) == 5
    assert ours["params"] == 4_026_753  # the reference ALIGNN with a Linear(256, 1) head
    assert ours["train"]["structures_per_s"] > 0 and ours["infer"]["structures_per_s"] > 0
    assert len(ours["train"]["per_batch_s"]) == 1 and len(ours["train"]["per_batch_s"][0]) == 5
    assert ours["rss"]["peak_kib"] > 0 and set(ours["rss"]["phase_peak_kib"]) >= {"build", "train", "infer"}
    assert 0 < ours["train"]["flop_fraction"] < 1 and res["gemm"]["peak_flops_per_s"] > 0
    # the analytic GEMM count is what torch counts
    fc = res["flop_check"]
    assert fc["analytic_forward"] == fc["forward"] and fc["analytic_backward"] == fc["backward"]
    assert all(c["triplets"] > 0 for c in ours["build"]["counts"])


def test_analytic_flops_match_flop_counter(piezo_structures):
    from torch.utils.flop_counter import FlopCounterMode
    from torch_geometric.data import Batch

    from backbones.alignn import ALIGNN
    from backbones.heads import LinearHead
    from bench.graphs import build_graph
    from bench.model import PropertyModel

    graphs = [build_graph(s) for s in piezo_structures[:3]]
    batch = Batch.from_data_list(graphs)
    shape = flops.ModelShape(alignn_layers=2, gcn_layers=1, hidden=8, embedding=4)
    model = PropertyModel(ALIGNN(alignn_layers=2, gcn_layers=1, hidden_features=8, embedding_features=4),
                          LinearHead(8))
    with FlopCounterMode(display=False) as fwd:
        loss = model(batch).pow(2).mean()
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    counts = [{"nodes": g.num_nodes, "edges": g.edge_index.size(1), "triplets": g.lg_index.size(1)} for g in graphs]
    expected = flops.batch_flops(counts, [3], shape)[0]
    assert expected["forward"] == fwd.get_total_flops()
    assert expected["backward"] == bwd.get_total_flops()


def test_edge_parity_counts_multisets():
    a = [[[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]], [[0, 0, 1, 0, 0], [0, 0, -1, 0, 0]]]
    same = edge_parity(a, [list(reversed(x)) for x in a], ["s0", "s1"])
    assert same["identical"] == 2 and not same["mismatches"]
    b = [a[0], a[1] + [[0, 0, 0, 1, 0]]]
    diff = edge_parity(a, b, ["s0", "s1"])
    assert diff["identical"] == 1 and diff["mismatches"][0]["only_peer"] == 1
    assert diff["mismatches"][0]["only_peer_edges"] == [[0, 0, 0, 1, 0]]


@pytest.mark.parametrize("name", ["int64", "gather", "before", "fused", "skipunused"])
def test_variants_compute_the_baseline(piezo_structures, name):
    from torch_geometric.data import Batch

    from bench.graphs import build_graph
    from bench.perf.variants import check_equivalence

    batch = Batch.from_data_list([build_graph(s) for s in piezo_structures[:2]])
    result = check_equivalence(name, batch)
    assert result["ok"], result


def test_builder_levers_keep_the_graphs(piezo_structures):
    """The numpy line graph and the keyed unique give the graphs the earlier torch / row-unique builder gave."""
    from bench.graphs import build_graph
    from bench.perf.variants import build_graph_before, same_graph

    assert all(same_graph(build_graph(s), build_graph_before(s)) for s in piezo_structures)


def test_profile_groups_a_training_step(data_dir):
    from bench.perf.breakdown import group_of, profile_training

    assert group_of("aten::addmm") == group_of("aten::mm") == "GEMM (Linear fwd/bwd)"
    assert group_of("aten::index_add_").startswith("scatter") and group_of("aten::index_select").startswith("gather")
    assert group_of("aten::native_batch_norm_backward").startswith("normalisation")
    res = profile_training(structures=2, batch_size=2, steps=1, threads=1, data_dir=str(data_dir))
    groups = res["groups_s"]
    assert abs(sum(groups.values()) - res["profiled_self_cpu_s"]) < 1e-9
    assert groups["GEMM (Linear fwd/bwd)"] > 0 and groups["optimizer (AdamW, every op inside it)"] > 0
    assert res["config"]["triplets"] > res["config"]["bonds"] > res["config"]["atoms"] > 0


# -- model size (--size): the quick budget's ALIGNN on both sides ------------------------------------------------


def _quick_alignn() -> dict:
    from bench.budgets import get_budget

    return get_budget("quick").backbone_config("alignn")


def test_perf_quick_size_measures_the_quick_budget_model(data_dir, tmp_path):
    from typer.testing import CliRunner

    from backbones.alignn import ALIGNN

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(_app(), ["--size", "quick", "--structures", "4", "--rounds", "1", "--no-peer",
                                         "--data-dir", str(data_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "quick size: ALIGNN 2+2 layers, hidden 64, embedding 32, batch 32" in result.output
    res = json.loads(out.read_text())
    assert res["sizes"][0]["alignn"] == _quick_alignn() and res["sizes"][0]["batch_size"] == 32
    ours = res["sides"]["ours"]
    quick_params = sum(p.numel() for p in ALIGNN(**_quick_alignn()).parameters()) + 64 + 1  # + Linear(64, 1)
    assert ours["params"] == quick_params < 200_000
    # the FLOP model follows the size: the analytic count is what torch counts on the quick model
    fc = res["flop_check"]
    assert fc["analytic_forward"] == fc["forward"] and fc["analytic_backward"] == fc["backward"]


@pytest.mark.slow  # the paper-size model too: ~30 s on the loaded 2-core machine
def test_perf_size_both_reports_each_size_in_one_table(data_dir, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(_app(), ["--size", "both", "--structures", "3", "--batch-size", "3", "--rounds", "1",
                                         "--no-peer", "--data-dir", str(data_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ratios by model size" in result.output
    assert "quick: 2+2 layers, hidden 64, batch 3" in result.output
    assert "paper: 4+4 layers, hidden 256, batch 3" in result.output
    res = json.loads(out.read_text())
    assert [s["name"] for s in res["sizes"]] == ["quick", "paper"]
    params = {k: v["sides"]["ours"]["params"] for k, v in res["by_size"].items()}
    assert params["paper"] == 4_026_753 and params["quick"] < 200_000
    flop = {k: v["sides"]["ours"]["train"]["flops"] for k, v in res["by_size"].items()}
    assert flop["paper"] > 10 * flop["quick"]
    for cell in res["by_size"].values():
        fc = cell["flop_check"]
        assert fc["analytic_forward"] == fc["forward"]


@pytest.mark.parametrize("args, allowed", [(["--size", "tiny"], "paper, quick, both"),
                                           (["--size", "both", "--profile"], "paper, quick (--profile and --levers"),
                                           (["--size", "both", "--levers", "fused"], "paper, quick (--profile")])
def test_perf_refuses_a_bad_size(data_dir, args, allowed):
    from typer.testing import CliRunner

    result = CliRunner().invoke(_app(), [*args, "--no-peer", "--data-dir", str(data_dir)])
    assert result.exit_code == 2, result.output
    assert f"--size '{args[1]}': use one of {allowed}" in " ".join(result.output.split())


def test_sizes_are_read_from_the_budget(monkeypatch):
    import dataclasses

    from bench import budgets
    from bench.perf.sizes import get_size

    paper = get_size("paper")
    assert paper.alignn_kwargs() == {"alignn_layers": 4, "gcn_layers": 4, "hidden_features": 256,
                                     "embedding_features": 64} and paper.batch_size == 16
    changed = dataclasses.replace(budgets.BUDGETS["quick"], batch_size=8,
                                  backbones={"alignn": {**_quick_alignn(), "hidden_features": 48}})
    monkeypatch.setitem(budgets.BUDGETS, "quick", changed)
    quick = get_size("quick")
    assert quick.shape.hidden == 48 and quick.shape.alignn_layers == 2 and quick.batch_size == 8
    monkeypatch.setitem(budgets.BUDGETS, "quick", dataclasses.replace(changed, backbones={"alignn": {"edge_bins": 40}}))
    with pytest.raises(ValueError, match="edge_bins"):
        get_size("quick")


def test_profile_and_variants_at_the_quick_size(data_dir, piezo_structures):
    import io

    from rich.console import Console
    from torch_geometric.data import Batch

    from bench.graphs import build_graph
    from bench.perf.breakdown import print_profile, profile_training
    from bench.perf.variants import check_equivalence

    res = profile_training(structures=2, batch_size=2, steps=1, threads=1, data_dir=str(data_dir), size="quick")
    assert res["config"]["size"]["alignn"] == _quick_alignn()
    buf = io.StringIO()
    print_profile(res, Console(file=buf, width=200))
    assert "quick size (ALIGNN 2+2 layers, hidden 64)" in buf.getvalue()
    batch = Batch.from_data_list([build_graph(s) for s in piezo_structures[:2]])
    for name in ("fused", "skipunused"):  # the levers are checked at the size they are measured at
        assert check_equivalence(name, batch, alignn=_quick_alignn())["ok"], name
