"""Lever variants of our model, measured by ``bench perf --levers`` against the baseline on the same batch.

These are copies for measurement only: the library code (``backbones/alignn/egconv.py``, ``bench/graphs``) is
unchanged. Every variant keeps the baseline's parameters (same modules, same initialisation, interchangeable
state dicts) and is checked against it numerically (:func:`check_equivalence`) before it is timed, so a lever
that is fast because it computes something else cannot win. See PERFORMANCE.md for the measured results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from backbones.alignn.egconv import EdgeGatedGraphConv


def baseline_model(norm: str = "batch"):
    from backbones.alignn import ALIGNN
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    return PropertyModel(ALIGNN(norm=norm), LinearHead(256, 1))


# -- edge-gated convolution variants ---------------------------------------------------------------------------


class IndexSelectEGGC(EdgeGatedGraphConv):
    """Gathers with ``index_select`` instead of ``x[idx]``: same forward, but the backward of a gather becomes
    ``index_add_`` instead of the slower ``index_put_(accumulate=True)``."""

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        e_hat = self.src_gate(h).index_select(0, src) + self.dst_gate(h).index_select(0, dst) + self.edge_gate(e)
        sigma = torch.sigmoid(e_hat)
        messages = sigma * self.dst_update(h).index_select(0, src)
        num = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, sigma)
        h_new = F.silu(self.norm_nodes(self.src_update(h) + num / (den + 1e-6)))
        e_new = F.silu(self.norm_edges(e_hat))
        if self.residual:
            h_new = h + h_new
            e_new = e + e_new
        return h_new, e_new


class InplaceEGGC(EdgeGatedGraphConv):
    """``index_select`` gathers plus in-place accumulation wherever autograd keeps no copy of the overwritten
    tensor (the edge gate's GEMM output, the SiLU outputs the residuals are added to, the denominator):
    fewer per-edge (per-triplet, on the line graph) tensors allocated and written."""

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        e_hat = self.edge_gate(e)
        e_hat.add_(self.src_gate(h).index_select(0, src)).add_(self.dst_gate(h).index_select(0, dst))
        sigma = torch.sigmoid(e_hat)
        messages = sigma * self.dst_update(h).index_select(0, src)
        num = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, sigma).add_(1e-6)
        h_new = F.silu(self.norm_nodes(self.src_update(h) + num / den))
        e_new = F.silu(self.norm_edges(e_hat))
        if self.residual:
            h_new = h_new.add_(h)  # SiLU's backward uses its input, not its output
            e_new = e_new.add_(e)
        return h_new, e_new


class FusedEGGC(EdgeGatedGraphConv):
    """:class:`InplaceEGGC` plus one GEMM for the four node-side maps (``[A; V; B; U] h``) and one gather of
    ``[A h | V h]`` by source."""

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        f = self.src_gate.out_features
        mods = (self.src_gate, self.dst_update, self.dst_gate, self.src_update)
        proj = F.linear(h, torch.cat([m.weight for m in mods]), torch.cat([m.bias for m in mods]))
        av_src = proj[:, :2 * f].index_select(0, src)
        e_hat = self.edge_gate(e)
        e_hat.add_(av_src[:, :f]).add_(proj[:, 2 * f:3 * f].index_select(0, dst))
        sigma = torch.sigmoid(e_hat)
        messages = sigma * av_src[:, f:]
        num = messages.new_zeros(h.size(0), f).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), f).index_add_(0, dst, sigma).add_(1e-6)
        h_new = F.silu(self.norm_nodes(proj[:, 3 * f:] + num / den))
        e_new = F.silu(self.norm_edges(e_hat))
        if self.residual:
            h_new = h_new.add_(h)
            e_new = e_new.add_(e)
        return h_new, e_new


def swap_eggc(model, cls):
    """Re-class every ``EdgeGatedGraphConv`` in ``model`` (same parameters; only ``forward`` changes)."""
    for module in model.modules():
        if type(module) is EdgeGatedGraphConv:
            module.__class__ = cls
    return model


# -- registry --------------------------------------------------------------------------------------------------


def _identity(batch):
    return batch


def _int32(batch):
    batch.edge_index = batch.edge_index.to(torch.int32)
    batch.lg_index = batch.lg_index.to(torch.int32)
    return batch


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    make_model: Callable
    prepare_batch: Callable = _identity


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("baseline", "backbones.alignn as is (BatchNorm)", baseline_model),
    Variant("layernorm", "ALIGNN(norm='layer'): upstream's normalisation", lambda: baseline_model("layer")),
    Variant("int32", "int32 edge and line-graph indices", baseline_model, _int32),
    Variant("index_select", "gathers by index_select (backward: index_add_)",
            lambda: swap_eggc(baseline_model(), IndexSelectEGGC)),
    Variant("inplace", "index_select + in-place accumulation in the EGGC",
            lambda: swap_eggc(baseline_model(), InplaceEGGC)),
    Variant("fused", "inplace + one GEMM for the four node-side maps, one gather",
            lambda: swap_eggc(baseline_model(), FusedEGGC)),
    Variant("inplace_int32", "inplace + int32 indices", lambda: swap_eggc(baseline_model(), InplaceEGGC), _int32),
    Variant("fused_int32", "fused + int32 indices", lambda: swap_eggc(baseline_model(), FusedEGGC), _int32),
]}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None


def check_equivalence(name: str, batch, rtol: float = 1e-4, atol: float = 1e-5) -> dict:
    """Same initial weights, same batch: the variant's outputs and parameter gradients must match the
    baseline's. Returns the largest relative deviations."""
    import copy

    variant = get_variant(name)
    torch.manual_seed(0)
    ref = baseline_model("layer" if name == "layernorm" else "batch")
    torch.manual_seed(0)
    model = variant.make_model()
    model.load_state_dict(ref.state_dict())
    outs, grads = [], []
    for m, b in ((ref, batch), (model, variant.prepare_batch(copy.copy(batch)))):
        m.train()
        out = m(b)
        out.pow(2).mean().backward()
        outs.append(out.detach())
        grads.append({k: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().clone()
                      for k, p in m.named_parameters()})
    out_dev = float(((outs[0] - outs[1]).abs() / (outs[0].abs() + atol)).max())
    # Gradients are compared in aggregate: some are pure rounding noise (a bias followed by BatchNorm has a zero
    # gradient in exact arithmetic), so per-parameter relative errors would flag noise.
    diff = sum(float((grads[0][k] - grads[1][k]).pow(2).sum()) for k in grads[0]) ** 0.5
    norm = sum(float(grads[0][k].pow(2).sum()) for k in grads[0]) ** 0.5
    grad_dev = diff / max(norm, 1e-30)
    return {"output_rel": out_dev, "grad_rel": grad_dev,
            "ok": bool(torch.allclose(outs[0], outs[1], rtol=rtol, atol=atol) and grad_dev < 1e-4)}


# -- graph-building variants -----------------------------------------------------------------------------------


def line_graph_numpy(edge_index: Tensor, num_nodes: int) -> Tensor:
    """:func:`bench.graphs.line_graph.line_graph` in numpy: same pairs in the same order. ``torch.repeat_interleave``
    costs ~2 ms a call on small CPU tensors (most of a small structure's build time); ``np.repeat`` microseconds."""
    import numpy as np

    src, dst = edge_index.numpy()
    num_edges = src.size
    out_deg = np.bincount(src, minlength=num_nodes)
    by_src = np.argsort(src, kind="stable")
    first_out = np.cumsum(out_deg) - out_deg
    n_next = out_deg[dst]
    e1 = np.repeat(np.arange(num_edges), n_next)
    group_start = np.repeat(np.cumsum(n_next) - n_next, n_next)
    rank = np.arange(e1.size) - group_start
    e2 = by_src[first_out[dst[e1]] + rank]
    return torch.from_numpy(np.stack([e1, e2]))


def canonical_edges_keyed(center, nbr, image):
    """:func:`bench.graphs.neighbors.canonical_edges` with a 1-D unique over an order-preserving int64 key
    instead of ``np.unique(axis=0)`` (which sorts a structured view): same rows, same order."""
    import numpy as np

    swap = nbr < center
    src = np.where(swap, nbr, center)
    dst = np.where(swap, center, nbr)
    img = np.where(swap[:, None], -image, image)
    if src.size == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3), dtype=np.int64)
    n = int(max(src.max(), dst.max())) + 1
    lo = int(img.min())
    span = int(img.max()) - lo + 1
    key = ((src * n + dst) * span + (img[:, 0] - lo)) * span + (img[:, 1] - lo)
    key = key * span + (img[:, 2] - lo)
    _, first = np.unique(key, return_index=True)
    return np.stack([src[first], dst[first]]), img[first].copy()


def build_graph_fast(structure, params=None):
    """``bench.graphs.build_graph`` with :func:`line_graph_numpy` and :func:`canonical_edges_keyed`."""
    import numpy as np

    from bench.graphs.build import GraphParams, atomic_numbers, site_species
    from bench.graphs.data import AlignnGraph
    from bench.graphs.neighbors import knn_within_cutoff

    params = params or GraphParams()
    center, nbr, image, _ = knn_within_cutoff(structure, params.cutoff, params.max_neighbors)
    (src, dst), img = canonical_edges_keyed(center, nbr, image)
    cart = structure.cart_coords
    vec = cart[dst] + img @ structure.lattice.matrix - cart[src]
    edge_index = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]))
    edge_image = torch.from_numpy(np.concatenate([img, -img]).astype(np.int32))
    edge_vec = torch.from_numpy(np.concatenate([vec, -vec]).astype(np.float32))
    n = len(structure)
    species_z, species_w, species_site = site_species(structure)
    return AlignnGraph(
        z=torch.tensor(atomic_numbers(structure), dtype=torch.long),
        species_z=species_z, species_w=species_w, species_site=species_site,
        edge_index=edge_index, edge_image=edge_image, edge_vec=edge_vec,
        lg_index=line_graph_numpy(edge_index, n), num_nodes=n,
    )


BUILDERS = {"baseline": "bench.graphs:build_graph", "fast": "bench.perf.variants:build_graph_fast"}


def get_builder(name: str):
    import importlib

    try:
        module, attr = BUILDERS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown builder {name!r}; known: {', '.join(BUILDERS)}") from None
    return getattr(importlib.import_module(module), attr)


def same_graph(a, b) -> bool:
    keys = ("z", "species_z", "species_w", "species_site", "edge_index", "edge_image", "edge_vec", "lg_index")
    return all(torch.equal(a[k], b[k]) for k in keys) and a.num_nodes == b.num_nodes
