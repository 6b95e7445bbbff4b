"""CHGNet's trunk as a ``Backbone``: its own modules, loaded with the weights shipped in the wheel."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch
from torch import Tensor, nn

from backbones.base import Backbone
from backbones.chgnet.graphs import CHGNET_RULE
from backbones.chgnet.weights import load_checkpoint, require_chgnet

# Trunk modules of chgnet.model.CHGNet, by attribute name. The rest of CHGNet is its output heads: ``mlp``
# (site energies), ``site_wise`` (magnetic moments) and ``composition_model`` (AtomRef); see CHGNetEnergyHead.
TRUNK = ("atom_embedding", "bond_basis_expansion", "bond_embedding", "bond_weights_ag", "bond_weights_bg",
         "angle_basis_expansion", "angle_embedding", "atom_conv_layers", "bond_conv_layers", "angle_layers",
         "readout_norm")


def _build_chgnet(model_name: str, pretrained: bool) -> nn.Module:
    require_chgnet()
    from chgnet.model import CHGNet

    ckpt = load_checkpoint(model_name)
    args = {**ckpt.model_args, "composition_model": None}  # AtomRef comes from the state dict below
    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count on construction
        model = CHGNet(**args, version=model_name)
    if pretrained:
        from chgnet.model.composition_model import AtomRef

        model.composition_model = AtomRef(is_intensive=args.get("is_intensive", True))
        model.load_state_dict(ckpt.state_dict, strict=True)  # strict: every shipped tensor lands somewhere
    return model


class CHGNetTrunk(Backbone):
    r"""CHGNet up to its readout: embeddings, 4 atom convolutions, 3 bond and 3 angle updates, the readout
    LayerNorm. The embedding is the mean over atoms of the final atom features :math:`h_i` (64 wide).

    CHGNet itself sums a per-atom MLP of the same :math:`h_i` (its energy per atom is the mean of site
    energies), and its ``crystal_fea`` is their sum; the mean keeps the embedding size-intensive, as ALIGNN's.
    Graphs come from ``chgnet``'s own converter (``graph_rule``, ``backbones.chgnet.graphs``).

    ``pretrained=True`` loads the shipped weights (the ``mptrj`` pre-training source). The default is a freshly
    initialised CHGNet, because the ``scratch`` strategy builds a backbone from its defaults: a pre-trained
    default would make ``--strategy scratch`` silently fine-tune MPtrj weights.
    """

    name = "chgnet"
    graph_rule = CHGNET_RULE
    group_kinds = frozenset({"embedding", "2body", "3body"})
    extra = "chgnet"
    citation = "Deng et al., Nat. Mach. Intell. 5, 1031 (2023)"
    licence = "BSD-3-Clause (chgnet package and its 0.3.0 weights, loaded from the installed wheel)"

    def __init__(self, model_name: str = "0.3.0", pretrained: bool = False):
        super().__init__()
        self.model_name, self.pretrained = model_name, pretrained
        chgnet = _build_chgnet(model_name, pretrained)
        for attr in TRUNK:
            setattr(self, attr, getattr(chgnet, attr))
        self.n_conv = chgnet.n_conv
        self._width = chgnet.atom_fea_dim
        # the pooled embedding's standardisation (``calibrate``): buffers, so model files and checkpoints keep it
        self.register_buffer("embedding_mean", torch.zeros(self._width))
        self.register_buffer("embedding_std", torch.ones(self._width))
        self.register_buffer("calibrated", torch.tensor(False))

    @property
    def embedding_dim(self) -> int:
        return self._width

    def config(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "pretrained": self.pretrained}

    def layer_groups(self) -> dict[str, nn.Module]:
        groups: dict[str, nn.Module] = {
            "embedding.atom": self.atom_embedding,
            "embedding.bond_basis": self.bond_basis_expansion,
            "embedding.bond": self.bond_embedding,
            "embedding.bond_weights_ag": self.bond_weights_ag,
            "embedding.bond_weights_bg": self.bond_weights_bg,
            "embedding.angle_basis": self.angle_basis_expansion,
            "embedding.angle": self.angle_embedding,
        }
        for i in range(self.n_conv):
            groups[f"2body.atom_conv{i}"] = self.atom_conv_layers[i]
            if i < self.n_conv - 1:
                groups[f"3body.bond_conv{i}"] = self.bond_conv_layers[i]
                groups[f"3body.angle_update{i}"] = self.angle_layers[i]
        # acts on the atom features the 2-body convolutions produce, so it trains with them
        groups["2body.readout_norm"] = self.readout_norm
        return groups

    @property
    def unused_groups(self) -> tuple[str, ...]:
        """Groups whose output nothing reads, so they never get a gradient: CHGNet's last angle update feeds no
        later layer (in ``chgnet`` itself too; its weights are in the checkpoint, unused by the energy)."""
        return (f"3body.angle_update{self.n_conv - 2}",) if self.n_conv > 1 else ()

    def _geometry(self, batch) -> tuple[Tensor, Tensor, Tensor]:
        """Bond bases (atom and bond graph) and unit bond vectors, as ``BatchedGraph.from_graphs`` computes
        them graph by graph, here for the whole batch at once (each bond uses its own structure's lattice)."""
        lattice = batch.lattice.to(batch.atom_frac_coord.dtype)
        cart = torch.bmm(batch.atom_frac_coord.unsqueeze(1), lattice[batch.batch]).squeeze(1)
        center, nbr = batch.atom_graph[:, 0], batch.atom_graph[:, 1]
        shift = torch.bmm(batch.neighbor_image.to(lattice.dtype).unsqueeze(1), lattice[batch.batch[center]]).squeeze(1)
        eye = torch.eye(3, dtype=lattice.dtype, device=lattice.device)
        zeros = torch.zeros_like(shift)
        # the shift is applied here, per bond; the encoder's own shift (image @ lattice) is given zeros
        return self.bond_basis_expansion(center=cart[center], neighbor=cart[nbr] + shift,
                                         undirected2directed=batch.undirected2directed, image=zeros, lattice=eye)

    def atom_features(self, batch) -> Tensor:
        """Final atom features ``[N, 64]`` (after the readout LayerNorm), as in ``CHGNet._compute``."""
        bases_ag, bases_bg, bond_vectors = self._geometry(batch)
        bg = batch.bond_graph
        has_angles = bg.size(0) > 0
        atom_feas = self.atom_embedding(batch.atomic_number - 1)  # H is embedding row 0
        bond_feas = self.bond_embedding(bases_ag)
        weights_ag = self.bond_weights_ag(bases_ag)
        weights_bg = self.bond_weights_bg(bases_bg)
        if has_angles:
            angle_bases = self.angle_basis_expansion(bond_vectors[bg[:, 2]], bond_vectors[bg[:, 4]])
            angle_feas = self.angle_embedding(angle_bases)
            bond_graph = bg[:, [0, 1, 3]]
        for i in range(self.n_conv):
            atom_feas = self.atom_conv_layers[i](atom_feas=atom_feas, bond_feas=bond_feas, bond_weights=weights_ag,
                                                 atom_graph=batch.atom_graph,
                                                 directed2undirected=batch.directed2undirected)
            if i < self.n_conv - 1 and has_angles:
                bond_feas = self.bond_conv_layers[i](atom_feas=atom_feas, bond_feas=bond_feas,
                                                     bond_weights=weights_bg, angle_feas=angle_feas,
                                                     bond_graph=bond_graph)
                angle_feas = self.angle_layers[i](atom_feas=atom_feas, bond_feas=bond_feas, angle_feas=angle_feas,
                                                  bond_graph=bond_graph)
        return self.readout_norm(atom_feas) if self.readout_norm is not None else atom_feas

    def pooled(self, batch) -> Tensor:
        """Mean over each structure's atoms of :math:`h_i`, unstandardised."""
        from torch_geometric.nn import global_mean_pool

        return global_mean_pool(self.atom_features(batch), batch.batch, size=batch.num_graphs)

    def forward(self, batch) -> Tensor:
        r""":math:`(\bar h - \mu) / \sigma`: the pooled features standardised per channel with the statistics
        ``calibrate`` fixed (identity before it ran)."""
        return (self.pooled(batch) - self.embedding_mean) / self.embedding_std

    @torch.no_grad()
    def calibrate(self, batches) -> bool:
        r"""Set :math:`\mu, \sigma` to the per-channel mean and standard deviation of the pooled features of
        ``batches`` (the training structures), once: a calibrated trunk (a checkpoint's) keeps its own.

        Why: CHGNet's atom features leave its readout LayerNorm with unit scale per atom, but their mean over a
        structure varies little between structures (per-channel std ≈ 0.004 on devi2024-ph under the shipped
        weights), so a fresh linear head's weights get gradients ~250× too small to learn in a fine-tuning
        budget; standardised, the same features give a ridge probe R² 0.76 there. A floor of 1 % of the median
        std keeps a channel that is constant in training from amplifying noise at test time."""
        if bool(self.calibrated):
            return False
        was_training = self.training
        self.eval()
        feats = torch.cat([self.pooled(b) for b in batches])
        self.train(was_training)
        if feats.size(0) < 2:
            return False  # one structure has no spread to standardise with: stay the identity
        std = feats.std(dim=0)
        self.embedding_mean.copy_(feats.mean(dim=0))
        self.embedding_std.copy_(std.clamp_min(0.01 * float(std.median()) + 1e-12))
        self.calibrated.fill_(True)
        return True


class CHGNetEnergyHead(nn.Module):
    """CHGNet's own energy readout on the trunk's atom features: the mean of per-atom MLP site energies plus
    the AtomRef composition energy, in eV/atom. With the shipped weights and ``CHGNetTrunk`` it reproduces
    ``CHGNet.predict_structure(...)['e']``; it is what proves the trunk's weights sit where CHGNet reads them."""

    def __init__(self, model_name: str = "0.3.0"):
        super().__init__()
        chgnet = _build_chgnet(model_name, pretrained=True)
        if not (chgnet.mlp_first and chgnet.is_intensive):
            raise ValueError(f"CHGNet {model_name}: only the per-atom (mlp_first), intensive readout is supported")
        self.mlp, self.composition_model = chgnet.mlp, chgnet.composition_model
        self.site_wise = chgnet.site_wise  # magnetic moments; kept so trunk + head hold the whole checkpoint

    def forward(self, atom_feas: Tensor, batch) -> Tensor:
        from torch_geometric.nn import global_mean_pool

        n = batch.num_graphs
        site_energy = global_mean_pool(self.mlp(atom_feas), batch.batch, size=n).view(-1)
        fc = self.composition_model.fc
        counts = torch.zeros(n, fc.in_features, dtype=atom_feas.dtype, device=atom_feas.device)
        counts.index_put_((batch.batch, batch.atomic_number - 1), torch.ones_like(site_energy[batch.batch]),
                          accumulate=True)
        composition = counts / counts.sum(dim=1, keepdim=True)  # AtomRef, intensive: element fractions
        return site_energy + fc(composition).view(-1)
