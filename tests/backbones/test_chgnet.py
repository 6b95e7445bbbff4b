"""CHGNet as a trunk: the shipped weights sit where CHGNet reads them (energy parity with ``chgnet`` itself),
every parameter is in exactly one layer group, every fine-tuning mode freezes what it says, bad structures
are named."""

import sys

import pytest
import torch

from backbones.heads import LinearHead
from bench.finetune import MODES, apply_mode
from bench.model import PropertyModel
from bench.train import param_groups

TRUNK_PARAMS = 399_821  # 0.3.0 without its heads (site-energy MLP 12,545; AtomRef 94; magmom 65)
CHECKPOINT_PARAMS = 412_525


@pytest.fixture(scope="module")
def chgnet():
    return pytest.importorskip("chgnet")


@pytest.fixture(scope="module")
def structures(data_dir):
    """Six piezo structures of different sizes (2 to ~20 atoms), so batching offsets of atoms, bonds and
    angles are exercised: the first rows of the file hold only 2- and 3-atom cells."""
    import warnings

    import pandas as pd
    from pymatgen.core import Structure

    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=300)
    by_size: dict[int, Structure] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cif in frame["structure"]:
            s = Structure.from_str(cif, fmt="cif")
            if len(s) <= 20:
                by_size.setdefault(len(s), s)
    sizes = sorted(by_size)
    assert len(sizes) >= 6, sizes
    return [by_size[n] for n in sizes[:: max(1, len(sizes) // 6)][:6]]


@pytest.fixture(scope="module")
def batch(chgnet, structures):
    from torch_geometric.data import Batch

    from backbones.chgnet.graphs import chgnet_graph

    graphs = [chgnet_graph(s) for s in structures]
    for g in graphs:
        g.y = torch.randn(1, 1)
    return Batch.from_data_list(graphs)


@pytest.fixture(scope="module")
def trunk(chgnet):
    from backbones.chgnet import CHGNetTrunk

    return CHGNetTrunk(pretrained=True).eval()


def test_energy_matches_chgnet_per_atom(chgnet, trunk, batch, structures):
    from chgnet.model import CHGNet

    from backbones.chgnet import CHGNetEnergyHead

    assert len({len(s) for s in structures}) == 6
    head = CHGNetEnergyHead().eval()
    with torch.no_grad():
        ours = head(trunk.atom_features(batch), batch)
    reference = CHGNet.load(verbose=False).predict_structure(structures, task="e")
    expected = torch.tensor([float(p["e"]) for p in reference])
    assert torch.allclose(ours, expected, atol=1e-5, rtol=0), (ours - expected).abs().max()


def test_default_is_fresh_so_scratch_means_scratch(chgnet, trunk):
    from backbones.chgnet import CHGNetTrunk

    torch.manual_seed(0)
    fresh = CHGNetTrunk()
    assert fresh.config() == {"model_name": "0.3.0", "pretrained": False}
    shipped, random = trunk.state_dict(), fresh.state_dict()
    assert shipped.keys() == random.keys()
    assert not any(torch.equal(shipped[k], random[k]) for k in shipped if k.endswith("weight") and "conv" in k)


def test_embedding_is_mean_of_atom_features(trunk, batch):
    with torch.no_grad():
        emb, atoms = trunk(batch), trunk.atom_features(batch)
    assert emb.shape == (batch.num_graphs, trunk.embedding_dim) == (6, 64)
    first = atoms[batch.batch == 0].mean(dim=0)
    assert torch.allclose(emb[0], first, atol=1e-6)


def test_calibration_standardises_the_embedding_once_and_travels_with_the_weights(chgnet, batch):
    from backbones.chgnet import CHGNetTrunk

    trunk = CHGNetTrunk(pretrained=True).eval()
    with torch.no_grad():
        raw = trunk.pooled(batch)
    assert raw.std(dim=0).median() < 0.05  # why it is needed: the pooled features barely vary
    assert trunk.calibrate([batch]) is True
    with torch.no_grad():
        z = trunk(batch)
    kept = raw.std(dim=0) > 0.01 * raw.std(dim=0).median()  # channels above the floor
    assert torch.allclose(z.mean(dim=0), torch.zeros(64), atol=1e-4)
    assert torch.allclose(z.std(dim=0)[kept], torch.ones(int(kept.sum())), atol=1e-4)
    mean_before = trunk.embedding_mean.clone()
    assert trunk.calibrate([batch]) is False  # a calibrated trunk keeps its statistics
    assert torch.equal(trunk.embedding_mean, mean_before)
    again = CHGNetTrunk(pretrained=True).eval()
    again.load_state_dict(trunk.state_dict())
    with torch.no_grad():
        assert torch.equal(again(batch), z) and bool(again.calibrated)


def test_parameter_counts_and_groups_cover_every_parameter_once(chgnet, trunk):
    from backbones.chgnet import CHGNetEnergyHead
    from backbones.chgnet.weights import load_checkpoint

    shipped = sum(v.numel() for v in load_checkpoint("0.3.0").state_dict.values())
    head = CHGNetEnergyHead()
    assert shipped == CHECKPOINT_PARAMS
    assert sum(p.numel() for p in trunk.parameters()) == TRUNK_PARAMS
    assert TRUNK_PARAMS + sum(p.numel() for p in head.parameters()) == CHECKPOINT_PARAMS
    seen: list[int] = []
    for name, module in trunk.layer_groups().items():
        assert name.split(".")[0] in {"embedding", "2body", "3body", "gcn"}, name
        seen += [id(p) for p in module.parameters()]
    assert len(seen) == len(set(seen)) == len(list(trunk.parameters()))


def test_graph_rule_is_the_checkpoints(chgnet):
    from backbones.chgnet.graphs import CHGNET_RULE
    from backbones.chgnet.weights import load_checkpoint

    args = load_checkpoint("0.3.0").model_args
    assert (CHGNET_RULE.atom_graph_cutoff, CHGNET_RULE.bond_graph_cutoff) == (args["atom_graph_cutoff"],
                                                                              args["bond_graph_cutoff"]) == (6, 3)


def test_registered_and_rebuilt_from_its_architecture(chgnet, trunk, batch):
    from backbones import get_backbone_class

    assert get_backbone_class("chgnet") is type(trunk)
    model = PropertyModel(trunk, LinearHead(64, 1), "chgnet")
    rebuilt = PropertyModel.from_architecture(model.architecture())
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(batch), model.eval()(batch))


EXPECTED_TRAINABLE = {
    "all": lambda n: True,
    "last-layer": lambda n: n.startswith("head.linear."),
    "new-head": lambda n: n.startswith("head."),
    "2-body": lambda n: n.startswith(("head.", "backbone.atom_conv_layers.", "backbone.readout_norm.")),
    "3-body": lambda n: n.startswith(("head.", "backbone.bond_conv_layers.", "backbone.angle_layers.")),
    "all-but-embedding": lambda n: not n.startswith(tuple(f"backbone.{m}" for m in (
        "atom_embedding", "bond_basis_expansion", "bond_embedding", "bond_weights_ag", "bond_weights_bg",
        "angle_basis_expansion", "angle_embedding"))),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_mode_freezes_exactly_its_parameters(chgnet, batch, mode):
    from backbones.chgnet import CHGNetTrunk

    torch.manual_seed(0)
    model = PropertyModel(CHGNetTrunk(pretrained=True), LinearHead(64, 1), "chgnet")
    apply_mode(model, mode)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(param_groups(model, 1e-2), lr=1e-2)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        (model(batch) - batch.y).pow(2).mean().backward()
        opt.step()
    after = model.state_dict()
    n_trained = 0
    for name, p in model.named_parameters():
        should_train = EXPECTED_TRAINABLE[mode](name)
        assert p.requires_grad == should_train, name
        changed = not torch.equal(before[name], after[name])
        if not should_train:
            assert not changed, f"{mode}: frozen {name} changed"
        elif p.grad is not None and p.grad.abs().sum() > 0:
            assert changed, f"{mode}: trainable {name} did not change"
            n_trained += 1
    assert n_trained > 0


def test_disordered_structure_is_named(chgnet):
    from pymatgen.core import Lattice, Structure

    from backbones.chgnet.graphs import chgnet_graph
    from bench.structures import StructureError

    s = Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    with pytest.raises(StructureError, match=r"entry x7: CHGNet needs an ordered structure"):
        chgnet_graph(s, source="entry x7")


def test_isolated_atom_is_named(chgnet):
    from pymatgen.core import Lattice, Structure

    from backbones.chgnet.graphs import chgnet_graph
    from bench.structures import StructureError

    s = Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match=r"gas.cif: CHGNet cannot build its graph"):
        chgnet_graph(s, source="gas.cif")


def test_without_chgnet_the_error_says_how_to_install(monkeypatch):
    from backbones.chgnet.weights import load_checkpoint

    monkeypatch.setitem(sys.modules, "chgnet", None)  # import chgnet now raises ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[chgnet\]"'):
        load_checkpoint("0.3.0")


def test_model_card_matches_the_installed_weights(chgnet):
    import json
    from pathlib import Path

    from backbones.chgnet.weights import load_checkpoint

    card = json.loads((Path(__file__).parents[2] / "leaderboard/pretrained/chgnet-0.3.0-mptrj.json").read_text())
    ckpt = load_checkpoint("0.3.0")
    assert card["model"]["weight_file_sha256"] == ckpt.sha256()
    assert card["model"]["weight_file_bytes"] == ckpt.path.stat().st_size
    assert card["model"]["parameters"] == CHECKPOINT_PARAMS and card["model"]["parameters_trunk"] == TRUNK_PARAMS
    assert card["model"]["licence"].startswith("BSD-3") and "leakage" in card


# -- the suite's graph path (bench.dataset.graph_source) ---------------------------------------------------------

def test_alignn_graph_source_is_the_unchanged_cache(tmp_path):
    from bench.dataset import graph_source
    from bench.graphs.build import GraphParams
    from bench.graphs.cache import GraphCache

    source = graph_source("alignn", tmp_path / "graphs", GraphParams())
    assert type(source) is GraphCache
    assert source.root == GraphCache(tmp_path / "graphs", GraphParams()).root
    assert source.root.name == "v2-" + GraphParams().key()  # the cache folder runs have always used


def test_unusable_structures_for_chgnet_are_named_by_entry(chgnet, tmp_path, structures):
    from pymatgen.core import Lattice, Structure

    from bench.dataset import DatasetError, build_graphs, graph_source
    from tasks.data import Record

    disordered = Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    gas = Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    records = [Record("ok-1", structures[0], 1.0), Record("mix-7", disordered, 2.0), Record("gas-3", gas, 3.0)]
    source = graph_source("chgnet", tmp_path)
    with pytest.raises(DatasetError) as err:
        build_graphs(records, source, "toy (toy.csv)")
    text = str(err.value)
    assert "2 of 3 structures in toy (toy.csv) are unusable" in text
    assert "toy (toy.csv), entry mix-7: CHGNet needs an ordered structure" in text
    assert "toy (toy.csv), entry gas-3: CHGNet cannot build its graph" in text
    good = build_graphs(records[:1], source, "toy")
    # the good structure's graph was cached by the first call; the unusable ones are tried again
    assert good.graphs[0].y.item() == 1.0 and (source.misses, source.hits) == (3, 1)


def test_chgnet_graphs_are_cached_on_their_rule_and_a_corrupt_entry_is_rebuilt(chgnet, tmp_path, structures):
    from backbones.chgnet.graphs import CHGNET_RULE, CHGNetGraph, chgnet_graph
    from bench.dataset import graph_source

    source = graph_source("chgnet", tmp_path)
    assert source.root == tmp_path / f"rule-chgnet-{CHGNET_RULE.key()}"  # keyed on the rule, beside ALIGNN's
    first = [source.get(s) for s in structures]
    again = graph_source("chgnet", tmp_path)
    cached = [again.get(s) for s in structures]
    assert (source.misses, again.hits, again.misses) == (6, 6, 0)
    for built, read, s in zip(first, cached, structures):
        assert type(read) is CHGNetGraph and read.num_nodes == len(s)
        fresh = chgnet_graph(s)
        assert sorted(read.keys()) == sorted(fresh.keys())
        assert all(torch.equal(read[k], fresh[k]) if torch.is_tensor(fresh[k]) else read[k] == fresh[k]
                   for k in fresh.keys())
    entry = next(source.root.rglob("*.pt"))
    entry.write_bytes(entry.read_bytes()[:-7])  # truncated
    third = graph_source("chgnet", tmp_path)
    assert [third.get(s).num_nodes for s in structures] == [len(s) for s in structures]
    assert (third.rebuilt, third.hits) == (1, 5)


@pytest.mark.parametrize("mode", ["all", "new-head"])
def test_finetunes_on_16_piezo_structures(chgnet, data_dir, tmp_path, mode):
    import numpy as np
    from torch_geometric.data import Batch

    from backbones.chgnet import CHGNetTrunk
    from bench.dataset import graph_source, load_splits, target_stats
    from bench.train import TrainConfig, Trainer, predict
    from tasks import get_task

    splits = load_splits(get_task("piezo"), data_dir, graph_source("chgnet", tmp_path / "graphs"),
                         {"train": 16, "val": 4, "test": 4}, seed=0)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [16, 4, 4]
    torch.manual_seed(0)
    model = PropertyModel(CHGNetTrunk(pretrained=True), LinearHead(64, 1), "chgnet")
    model.set_target_scaling(*map(torch.tensor, target_stats(splits["train"].targets)))
    counts = apply_mode(model, mode)
    trunk_before = {k: v.clone() for k, v in model.backbone.named_parameters()}
    with torch.no_grad():
        train_mean = torch.cat([model.backbone.pooled(Batch.from_data_list(splits["train"].graphs))]).mean(0)
    Trainer(model, TrainConfig(epochs=1, batch_size=8, lr=1e-3), tmp_path / "run").fit(splits["train"],
                                                                                      splits["val"])
    pred = predict(model, splits["test"].graphs)
    assert pred.shape == (4, 1) and np.isfinite(pred).all()
    unchanged = all(torch.equal(trunk_before[k], v) for k, v in model.backbone.named_parameters())
    assert unchanged == (mode == "new-head")
    # standardised with the 16 training structures' statistics under the starting weights, in both modes
    assert bool(model.backbone.calibrated)
    assert torch.allclose(model.backbone.embedding_mean, train_mean, atol=1e-6)
    assert counts["trainable"] == (65 if mode == "new-head" else TRUNK_PARAMS + 65)
