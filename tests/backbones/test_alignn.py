import pytest
import torch
from torch_geometric.data import Batch

from backbones import build_backbone, get_backbone_class
from backbones.alignn import ALIGNN
from backbones.alignn.features import cgcnn_table
from backbones.heads import LinearHead, MLPHead
from bench.graphs import build_graph
from bench.model import PropertyModel

REFERENCE_PARAMETERS = 4_026_753  # upstream ALIGNN, 4 ALIGNN + 4 GCN layers, hidden 256, linear head


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_default_parameter_count_matches_reference():
    backbone = ALIGNN()
    total = n_params(backbone) + n_params(LinearHead(backbone.embedding_dim, 1))
    assert abs(total - REFERENCE_PARAMETERS) / REFERENCE_PARAMETERS < 0.01
    assert total == REFERENCE_PARAMETERS


def test_layer_groups_cover_every_parameter_once():
    backbone = ALIGNN(alignn_layers=2, gcn_layers=3, hidden_features=16, embedding_features=8)
    groups = backbone.layer_groups()
    ids = [id(p) for g in groups.values() for p in g.parameters()]
    assert len(ids) == len(set(ids)) == len(list(backbone.parameters()))
    assert [k for k in groups if k.startswith("2body.")] == ["2body.alignn0", "2body.alignn1"]
    assert [k for k in groups if k.startswith("3body.")] == ["3body.alignn0", "3body.alignn1"]
    assert len([k for k in groups if k.startswith("gcn.")]) == 3
    assert {"embedding.atom", "embedding.bond", "embedding.angle"} <= set(groups)


def test_cgcnn_table_is_the_real_one():
    table = cgcnn_table()
    assert table.shape == (101, 92)
    assert torch.all(table[0] == 0)
    # concatenated one-hot blocks (group, period, electronegativity, ...): binary, several ones per element
    assert set(table.unique().tolist()) == {0.0, 1.0}
    assert torch.all((table[1:] == 1).sum(1) >= 5)
    rows = table[[1, 6, 8, 26]]
    assert torch.linalg.matrix_rank(rows) == 4


def test_batched_prediction_equals_single(piezo_structures):
    torch.manual_seed(0)
    backbone = ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=16, embedding_features=8)
    model = PropertyModel(backbone, LinearHead(16)).eval()
    graphs = [build_graph(s) for s in piezo_structures[:4]]
    batched = model(Batch.from_data_list(graphs))
    single = torch.cat([model(Batch.from_data_list([g])) for g in graphs])
    assert torch.allclose(batched, single, atol=1e-5)


def test_prediction_invariant_to_site_order_and_translation(piezo_structures):
    torch.manual_seed(0)
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=16, embedding_features=8),
                          LinearHead(16)).eval()
    s = max(piezo_structures, key=len).copy()
    ref = model(Batch.from_data_list([build_graph(s)]))
    shuffled = s.copy()
    shuffled.translate_sites(list(range(len(s))), [0.13, -0.07, 0.31])
    perm = torch.randperm(len(s)).tolist()
    shuffled = type(s).from_sites([shuffled[i] for i in perm])
    out = model(Batch.from_data_list([build_graph(shuffled)]))
    assert torch.allclose(ref, out, atol=1e-4)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_gradients_reach_every_parameter(piezo_structures, norm):
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4,
                                 norm=norm), MLPHead(8, 2, hidden=4))
    out = model(Batch.from_data_list([build_graph(s) for s in piezo_structures[:3]]))
    assert out.shape == (3, 2)
    out.sum().backward()
    # The bond output of the last GCN layer and the angle output of the last ALIGNN layer feed nothing
    # (as upstream), so only their output norms get no gradient.
    unused = {"backbone.gcn_layers.0.norm_edges", "backbone.alignn_layers.0.edge_update.norm_edges"}
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[0] in unused:
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_reset_parameters_reinitialises():
    torch.manual_seed(0)
    backbone = ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4)
    before = [p.detach().clone() for p in backbone.parameters()]
    backbone.reset_parameters()
    changed = [not torch.equal(a, b) for a, b in zip(before, backbone.parameters()) if a.ndim > 1]
    assert all(changed)


def test_registry_and_architecture_roundtrip():
    assert get_backbone_class("alignn") is ALIGNN
    with pytest.raises(KeyError, match="known backbones: alignn"):
        get_backbone_class("nope")
    model = PropertyModel(build_backbone("alignn", hidden_features=8, embedding_features=4), LinearHead(8))
    clone = PropertyModel.from_architecture(model.architecture())
    clone.load_state_dict(model.state_dict())
    assert n_params(clone) == n_params(model)


def test_disordered_sites_get_occupancy_weighted_features(piezo_structures):
    from pymatgen.core import Structure

    from backbones.alignn.features import cgcnn_table

    ordered = piezo_structures[0].copy()
    disordered = Structure(ordered.lattice, [{"Li": 0.5, "Na": 0.25}] + list(ordered.species[1:]),
                           ordered.frac_coords)
    backbone = ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4)
    batch = Batch.from_data_list([build_graph(ordered), build_graph(disordered)])
    feats = backbone.site_features(batch)
    table = cgcnn_table()
    n0 = len(ordered)
    assert torch.equal(feats[:n0], table[[site.specie.Z for site in ordered]])
    assert torch.allclose(feats[n0], 0.5 * table[3] + 0.25 * table[11])
    assert torch.equal(feats[n0 + 1:], table[[site.specie.Z for site in ordered][1:]])
