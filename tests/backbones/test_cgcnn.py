import torch
from torch_geometric.data import Batch

from backbones.cgcnn import CGCNN, GaussianDistance
from bench.graphs import build_graph


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def hand_count(atom_in=92, f=64, convs=3, bins=41, hidden=128):
    embedding = atom_in * f + f
    conv = (2 * f + bins) * 2 * f + 2 * f + 2 * (2 * f) + 2 * f  # fc_full, BN1 (weight+bias), BN2
    readout = f * hidden + hidden
    return embedding + convs * conv + readout


def test_paper_defaults_and_their_parameter_count():
    model = CGCNN()
    assert model.bond_expansion.bins == 41  # 0, 0.2, ..., 8.0 Å
    assert torch.allclose(model.bond_expansion.centers[[0, -1]], torch.tensor([0.0, 8.0]))
    assert model.embedding_dim == 128 and len(model.convs) == 3
    assert n_params(model) == hand_count() == 80_704


def test_parameter_count_of_other_sizes_follows_the_formula():
    model = CGCNN(atom_features=16, conv_layers=2, hidden_features=24, bond_dmax=6.0, bond_step=0.5)
    assert n_params(model) == hand_count(f=16, convs=2, bins=13, hidden=24)


def test_gaussian_expansion_peaks_at_its_centre():
    g = GaussianDistance(0.0, 8.0, 0.2)
    u = g(torch.tensor([2.0]))
    assert u.argmax().item() == 10 and torch.isclose(u[0, 10], torch.tensor(1.0))
    assert torch.isclose(u[0, 11], torch.exp(torch.tensor(-1.0)))  # one step away: exp(-1)


def test_zero_conv_layers_is_embedding_and_readout(piezo_structures):
    model = CGCNN(atom_features=8, conv_layers=0, hidden_features=4)
    out = model(Batch.from_data_list([build_graph(piezo_structures[0])]))
    assert out.shape == (1, 4)
