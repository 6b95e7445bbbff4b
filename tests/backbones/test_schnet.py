import math

import torch

from backbones.schnet import GaussianSmearing, SchNet, shifted_softplus


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def hand_count(h=128, f=128, blocks=3, g=50, out=64, elements=101):
    embedding = elements * h  # rows 0..100: Z up to 100, no bias
    block = (g * f + f) + (f * f + f) + h * f + (f * h + h) + (h * h + h)  # filter MLP, U (no bias), V1, dense
    return embedding + blocks * block + h * out + out


def test_paper_defaults_and_their_parameter_count():
    model = SchNet()
    assert model.embedding_dim == 64 and len(model.interactions) == 3 and model.rbf.centers.numel() == 50
    assert n_params(model) == hand_count() == 238_528


def test_parameter_count_of_other_sizes_follows_the_formula():
    model = SchNet(hidden_features=16, num_filters=24, interactions=2, num_gaussians=10, readout_features=8)
    assert n_params(model) == hand_count(h=16, f=24, blocks=2, g=10, out=8)


def test_shifted_softplus_is_zero_at_zero():
    assert shifted_softplus(torch.tensor(0.0)).abs() < 1e-7
    assert torch.isclose(shifted_softplus(torch.tensor(3.0)), torch.tensor(math.log(0.5 * math.exp(3) + 0.5)))


def test_bonds_beyond_the_cutoff_carry_no_message():
    block = SchNet(hidden_features=4, num_filters=4, interactions=1, num_gaussians=5, cutoff=3.0).interactions[0]
    h = torch.randn(2, 4)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    d = torch.tensor([3.5, 3.5])
    out = block(edge_index, h, GaussianSmearing(3.0, 5)(d), d)
    assert torch.allclose(out, h + block.dense(shifted_softplus(block.f2out(torch.zeros(2, 4)))))
