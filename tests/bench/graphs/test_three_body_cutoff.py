"""The graph levers: a three-body cutoff (line graph over short bonds only) and a hard neighbour cap.

The reference rule's cache key and run key are hard-coded from the code before the levers existed: a lever
left at its default must not move any cache entry or committed run.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from bench.graphs.build import GraphParams, GraphParamsError, build_graph
from bench.graphs.cache import GraphCache
from bench.graphs.neighbors import knn_within_cutoff

REPO = Path(__file__).resolve().parents[3]
# GraphParams().key() and resolve_config's run keys before the levers were added (commit 2f97153)
REFERENCE_GRAPH_KEY = "30405bb58bc99cd1"
REFERENCE_RUN_KEYS = {"scratch": "2b17879f6127", "ptft": "05bda207f599"}


def cscl(a: float = 3.0) -> Structure:
    # 8 unlike neighbours at a·√3/2 = 2.60 Å, then 6 like ones at a = 3.0 Å: the 12th-nearest is a tie of 6
    return Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def triplets(g) -> set[tuple[int, int]]:
    return set(map(tuple, g.lg_index.T.tolist()))


def test_reference_rule_keeps_its_cache_key():
    assert GraphParams().key() == REFERENCE_GRAPH_KEY
    assert GraphParams(three_body_cutoff=None, neighbor_cap=None).key() == REFERENCE_GRAPH_KEY
    assert GraphParams().as_dict() == {"cutoff": 8.0, "max_neighbors": 12}
    assert GraphCache(Path("/x"), GraphParams()).root == Path(f"/x/v2-{REFERENCE_GRAPH_KEY}")
    keys = {GraphParams(three_body_cutoff=3.5).key(), GraphParams(three_body_cutoff=3.0).key(),
            GraphParams(neighbor_cap=12).key(), GraphParams(neighbor_cap=12, three_body_cutoff=3.5).key()}
    assert len(keys) == 4 and REFERENCE_GRAPH_KEY not in keys


def test_reference_rule_keeps_run_keys(data_dir):
    from bench.run import resolve_config, run_key

    split = {"ft_size": 800, "trial": 1, "fold": None}
    scratch = resolve_config("devi2024-pz", "scratch", "quick", 0, "cpu", None, split=split)
    assert scratch["graph"] == {"cutoff": 8.0, "max_neighbors": 12}
    assert run_key(scratch, "x") == REFERENCE_RUN_KEYS["scratch"]
    ptft = resolve_config("devi2024-pz", "ptft", "quick", 0, "cpu", None,
                          split={"ft_size": 100, "trial": 2, "fold": None})
    assert run_key(ptft, "x") == REFERENCE_RUN_KEYS["ptft"]
    unset = resolve_config("devi2024-pz", "scratch", "quick", 0, "cpu", None, split=split,
                           overrides={"three_body_cutoff": None, "neighbor_cap": None})
    assert run_key(unset, "x") == REFERENCE_RUN_KEYS["scratch"]
    lever = resolve_config("devi2024-pz", "scratch", "quick", 0, "cpu", None, split=split,
                           overrides={"three_body_cutoff": 3.5})
    assert lever["graph"] == {"cutoff": 8.0, "max_neighbors": 12, "three_body_cutoff": 3.5}
    assert run_key(lever, "x") != REFERENCE_RUN_KEYS["scratch"]
    assert GraphParams(**lever["graph"]) == GraphParams(three_body_cutoff=3.5)


def test_committed_runs_keep_their_graph_rule():
    files = sorted((REPO / "leaderboard" / "results").glob("*.json"))
    configs = [json.loads(p.read_text())["config"] for p in files]
    gnn = [(p, c) for p, c in zip(files, configs) if c.get("backbone", "alignn") == "alignn"][:20]
    assert gnn
    for path, config in gnn:  # baselines read no graph
        graph = config["graph"]
        assert GraphParams(**graph).as_dict() == graph, path.name


def test_line_graph_joins_only_short_bonds(piezo_structures):
    dropped = 0
    for s in piezo_structures[:6]:
        ref = build_graph(s)
        cut = build_graph(s, GraphParams(three_body_cutoff=3.0))
        # the 2-body graph is untouched
        assert torch.equal(ref.edge_index, cut.edge_index) and torch.equal(ref.edge_vec, cut.edge_vec)
        short = (ref.edge_vec.double().norm(dim=1) <= 3.0).numpy()
        expected = {(a, b) for a, b in triplets(ref) if short[a] and short[b]}
        assert triplets(cut) == expected
        assert cut.lg_index.size(1) == len(expected)  # no duplicates
        dropped += len(triplets(ref)) - len(expected)
    assert dropped > 0


def test_three_body_cutoff_bounds():
    s = cscl()
    ref = build_graph(s)
    assert triplets(build_graph(s, GraphParams(three_body_cutoff=8.0))) == triplets(ref)
    # 2.6 Å bonds kept, 3.0 Å bonds out of every triplet
    mid = build_graph(s, GraphParams(three_body_cutoff=2.8))
    length = ref.edge_vec.norm(dim=1)
    used = torch.unique(mid.lg_index)
    assert 0 < mid.lg_index.size(1) < ref.lg_index.size(1)
    assert (length[used] < 2.8).all() and int((length < 2.8).sum()) == used.numel()
    none = build_graph(s, GraphParams(three_body_cutoff=2.0))
    assert none.lg_index.shape == (2, 0) and none.lg_index.dtype == torch.long
    assert torch.equal(none.edge_index, ref.edge_index)


def test_neighbor_cap_drops_ties_past_the_cap():
    s = cscl()
    center, *_ = knn_within_cutoff(s, 8.0, 12)
    assert np.bincount(center).tolist() == [14, 14]  # ties at the 12th distance are all kept
    center, nbr, image, _ = knn_within_cutoff(s, 8.0, 12, cap=12)
    assert np.bincount(center).tolist() == [12, 12]
    dist = np.linalg.norm(s.cart_coords[nbr] + image @ s.lattice.matrix - s.cart_coords[center], axis=1)
    assert (np.sort(dist)[:16] < 2.7).all()  # the 8 nearest of each site are always among the kept
    assert build_graph(s, GraphParams(neighbor_cap=12)).edge_index.size(1) < build_graph(s).edge_index.size(1)
    # a cap at or above every site's count changes nothing
    assert torch.equal(build_graph(s, GraphParams(neighbor_cap=14)).edge_index, build_graph(s).edge_index)


@pytest.mark.parametrize("kwargs, name", [
    ({"three_body_cutoff": 0}, "three_body_cutoff"), ({"three_body_cutoff": -1.0}, "three_body_cutoff"),
    ({"three_body_cutoff": "3.5"}, "three_body_cutoff"), ({"three_body_cutoff": float("nan")}, "three_body_cutoff"),
    ({"three_body_cutoff": float("inf")}, "three_body_cutoff"),
    ({"neighbor_cap": 0}, "neighbor_cap"), ({"neighbor_cap": 2.5}, "neighbor_cap"),
    ({"neighbor_cap": True}, "neighbor_cap"),
])
def test_bad_lever_names_itself(kwargs, name):
    with pytest.raises(GraphParamsError, match=name):
        GraphParams(**kwargs)


def test_cache_keeps_rules_apart(tmp_path):
    s = cscl()
    ref, cut = GraphCache(tmp_path), GraphCache(tmp_path, GraphParams(three_body_cutoff=2.8))
    a, b = ref.get(s), cut.get(s)
    assert ref.root != cut.root and cut.misses == 1 and b.lg_index.size(1) < a.lg_index.size(1)
    again = GraphCache(tmp_path, GraphParams(three_body_cutoff=2.8))
    assert torch.equal(again.get(s).lg_index, b.lg_index) and again.hits == 1


def _model(norm="batch"):
    from backbones.alignn import ALIGNN

    torch.manual_seed(0)
    return ALIGNN(alignn_layers=2, gcn_layers=1, hidden_features=16, embedding_features=8, norm=norm)


@pytest.mark.parametrize("r3", [2.8, 2.0])  # some bonds without triplets; no triplet in the whole batch
def test_alignn_trains_on_bonds_without_triplets(r3, piezo_structures):
    graphs = [build_graph(s, GraphParams(three_body_cutoff=r3)) for s in (cscl(), cscl(3.1))]
    if r3 > 2.5:
        graphs.append(build_graph(piezo_structures[0], GraphParams(three_body_cutoff=r3)))
    batch = Batch.from_data_list(graphs)
    assert (batch.lg_index.size(1) == 0) == (r3 < 2.5)
    model = _model()
    model.train()
    out = model(batch)
    out.sum().backward()
    assert out.shape == (len(graphs), 16) and torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    bn = model.angle_embedding[1].norm
    assert torch.isfinite(bn.running_mean).all() and torch.isfinite(bn.running_var).all()
    model.eval()
    assert torch.isfinite(model(batch)).all()


def test_line_graph_update_sends_no_message_to_a_bond_without_triplets():
    g = build_graph(cscl(), GraphParams(three_body_cutoff=2.8))
    batch = Batch.from_data_list([g])
    lonely = torch.ones(g.edge_index.size(1), dtype=torch.bool)
    lonely[g.lg_index[1]] = False  # bonds that receive no line-graph message
    assert lonely.any() and not lonely.all()
    layer = _model().alignn_layers[0].edge_update.eval()
    m = torch.randn(g.edge_index.size(1), 16)
    t = torch.randn(g.lg_index.size(1), 16)
    e1, _ = layer(batch.lg_index, m, t)
    e2, _ = layer(batch.lg_index, m, t + torch.randn_like(t))  # other angles: only bonds with triplets move
    assert torch.equal(e1[lonely], e2[lonely])
    assert not torch.allclose(e1[~lonely], e2[~lonely])


def test_checkpoint_keeps_the_graph_rule(tmp_path):
    from bench.checkpoint import load_model, save_model
    from bench.model import PropertyModel
    from backbones.heads import LinearHead

    backbone = _model()
    model = PropertyModel(backbone, LinearHead(backbone.embedding_dim))
    path = save_model(tmp_path / "model.pt", model, GraphParams(three_body_cutoff=3.5), {"units": "x"})
    _, params, _ = load_model(path)
    assert params == GraphParams(three_body_cutoff=3.5)


# -- wiring: --params three_body_cutoff / neighbor_cap -----------------------------------------------------------
def test_spec_takes_the_levers_for_scratch():
    from bench.spec import RunSpec

    spec = RunSpec("piezo", overrides={"three_body_cutoff": 3.5, "neighbor_cap": 12})
    assert spec.overrides == {"three_body_cutoff": 3.5, "neighbor_cap": 12}
    assert RunSpec("piezo", overrides={"three_body_cutoff": 3}).overrides == {"three_body_cutoff": 3}
    assert RunSpec("piezo", overrides={"three_body_cutoff": None}).overrides == {"three_body_cutoff": None}


@pytest.mark.parametrize("kwargs, message", [
    ({"overrides": {"three_body_cutoff": 0}}, "--params three_body_cutoff must be a length in Å > 0"),
    ({"overrides": {"three_body_cutoff": "3.5"}}, "--params three_body_cutoff must be a length in Å > 0"),
    ({"overrides": {"three_body_cutoff": True}}, "--params three_body_cutoff"),
    ({"overrides": {"neighbor_cap": 0}}, "--params neighbor_cap must be an integer ≥ 1"),
    ({"overrides": {"neighbor_cap": 12.5}}, "--params neighbor_cap must be an integer ≥ 1"),
    ({"strategy": "ptft", "overrides": {"three_body_cutoff": 3.5}},
     "the graph levers are for --strategy scratch for now"),
    ({"strategy": "mpt", "overrides": {"neighbor_cap": 12}}, "strategy mpt cannot take them"),
])
def test_spec_rejects_a_bad_lever(kwargs, message):
    from bench.spec import RunSpec, SpecError

    with pytest.raises(SpecError) as err:
        RunSpec("piezo", **kwargs)
    assert message in str(err.value)


def test_unknown_param_lists_the_levers():
    from bench.spec import RunSpec, SpecError

    with pytest.raises(SpecError, match=r"known: .*neighbor_cap.*three_body_cutoff"):
        RunSpec("piezo", overrides={"three_body": 3.5})


def test_cli_run_rejects_a_bad_lever_before_work(data_dir, isolated_home):
    from typer.testing import CliRunner

    from bench.cli import app

    result = CliRunner().invoke(app, ["run", "--task", "piezo", "--budget", "smoke",
                                      "--params", '{"three_body_cutoff": -1}'])
    assert result.exit_code == 2, result.output
    assert "--params three_body_cutoff must be a length in Å > 0, or null; got -1" in result.output
    assert not (isolated_home / "runs").exists()
