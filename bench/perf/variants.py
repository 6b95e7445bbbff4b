"""Lever variants of our model, measured by ``bench perf --levers`` against the baseline on the same batch.

The baseline is the library code (``backbones/alignn``, ``bench/graphs``) with the levers that won applied:
int32 indices, ``index_select`` gathers, in-place accumulation, the numpy line graph and the keyed unique.
The variants here undo one lever (``int64``, ``gather``, ``before``, builder ``before``) so that its gain can be
re-measured, or try one that was not kept (``fused``, ``skipunused``, ``layernorm``, ``compile``). Every
variant keeps the baseline's parameters (same modules, same initialisation, interchangeable state dicts) and is
checked against it numerically (:func:`check_equivalence`) before it is timed, so a lever that is fast because
it computes something else cannot win. See PERFORMANCE.md for the measured results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from backbones.alignn.egconv import EdgeGatedGraphConv


def baseline_model(norm: str = "batch", **alignn):
    """Our ALIGNN (``alignn``: constructor arguments, e.g. :meth:`bench.perf.sizes.PerfSize.alignn_kwargs`;
    default the paper configuration) with a ``Linear(hidden, 1)`` head."""
    from backbones.alignn import ALIGNN
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    backbone = ALIGNN(norm=norm, **alignn)
    return PropertyModel(backbone, LinearHead(backbone.embedding_dim, 1))


# -- edge-gated convolution variants ---------------------------------------------------------------------------


class GatherEGGC(EdgeGatedGraphConv):
    """The forward before the levers: ``x[idx]`` gathers (backward: ``index_put_(accumulate=True)``) and
    out-of-place sums."""

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        e_hat = self.src_gate(h)[src] + self.dst_gate(h)[dst] + self.edge_gate(e)
        sigma = torch.sigmoid(e_hat)
        messages = sigma * self.dst_update(h)[src]
        num = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, sigma)
        h_new = F.silu(self.norm_nodes(self.src_update(h) + num / (den + 1e-6)))
        e_new = F.silu(self.norm_edges(e_hat))
        if self.residual:
            h_new = h + h_new
            e_new = e + e_new
        return h_new, e_new


class FusedEGGC(EdgeGatedGraphConv):
    """The baseline plus one GEMM for the four node-side maps (``[A; V; B; U] h``) and one gather of
    ``[A h | V h]`` by source (measured 1.02-1.07x, +8 % peak RSS: not kept)."""

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


class SkipUnusedEGGC(EdgeGatedGraphConv):
    """The baseline, but an EGGC whose edge output nobody reads (``edges_used = False``: the last ALIGNN layer's
    line-graph convolution, whose "edges" are the triplets, and the last GCN layer) skips computing it:
    BatchNorm + SiLU + residual over every triplet in forward. Outputs and gradients are the baseline's; only
    the running statistics of those two unused BatchNorms stop updating (they never reach an output)."""

    edges_used = True

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.edges_used:
            return super().forward(edge_index, h, e)
        src, dst = edge_index
        e_hat = self.edge_gate(e)
        e_hat.add_(self.src_gate(h).index_select(0, src)).add_(self.dst_gate(h).index_select(0, dst))
        sigma = torch.sigmoid(e_hat)
        messages = sigma * self.dst_update(h).index_select(0, src)
        num = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, sigma).add_(1e-6)
        h_new = F.silu(self.norm_nodes(self.src_update(h) + num / den))
        return (h_new.add_(h) if self.residual else h_new), None


def skip_unused(model):
    backbone = model.backbone
    swap_eggc(model, SkipUnusedEGGC)
    last = [backbone.alignn_layers[-1].edge_update] if len(backbone.alignn_layers) else []
    last += [backbone.gcn_layers[-1]] if len(backbone.gcn_layers) else []
    for conv in last:
        conv.edges_used = False
    return model


def swap_eggc(model, cls):
    """Re-class every ``EdgeGatedGraphConv`` in ``model`` (same parameters; only ``forward`` changes)."""
    for module in model.modules():
        if type(module) is EdgeGatedGraphConv:
            module.__class__ = cls
    return model


# -- registry --------------------------------------------------------------------------------------------------


def _int64(model):
    model.backbone.index_dtype = torch.int64
    return model


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    make_model: Callable  # (**ALIGNN constructor arguments) -> model


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("baseline", "backbones.alignn as in the repository (BatchNorm, int32 indices, in-place EGGC)",
            baseline_model),
    Variant("layernorm", "ALIGNN(norm='layer'): upstream's normalisation", lambda **kw: baseline_model("layer", **kw)),
    Variant("int64", "lever undone: int64 edge and line-graph indices", lambda **kw: _int64(baseline_model(**kw))),
    Variant("gather", "lever undone: x[idx] gathers, out-of-place sums in the EGGC",
            lambda **kw: swap_eggc(baseline_model(**kw), GatherEGGC)),
    Variant("before", "every model lever undone (gather + int64): the model before PERFORMANCE.md's levers",
            lambda **kw: _int64(swap_eggc(baseline_model(**kw), GatherEGGC))),
    Variant("fused", "not kept: one GEMM for the four node-side maps, one gather",
            lambda **kw: swap_eggc(baseline_model(**kw), FusedEGGC)),
    Variant("skipunused", "tried: the last layers skip the edge outputs nobody reads (triplet BatchNorm + SiLU)",
            lambda **kw: skip_unused(baseline_model(**kw))),
]}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None


def check_equivalence(name: str, batch, rtol: float = 1e-4, atol: float = 1e-5, alignn: dict | None = None) -> dict:
    """Same initial weights, same batch: the variant's outputs and parameter gradients must match the
    baseline's (both built with ``alignn``, ALIGNN's constructor arguments). Returns the largest relative
    deviations."""
    import copy

    variant = get_variant(name)
    torch.manual_seed(0)
    alignn = alignn or {}
    ref = baseline_model("layer" if name == "layernorm" else "batch", **alignn)
    torch.manual_seed(0)
    model = variant.make_model(**alignn)
    model.load_state_dict(ref.state_dict())
    outs, grads = [], []
    for m, b in ((ref, batch), (model, copy.copy(batch))):
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


def line_graph_torch(edge_index: Tensor, num_nodes: int, keep=None) -> Tensor:
    """The line graph before the numpy lever (``torch.repeat_interleave``): same pairs in the same order
    (``keep``: as ``bench.graphs.line_graph.line_graph``, pairs of kept bonds only)."""
    if keep is not None:
        kept = torch.from_numpy(np.flatnonzero(keep))
        return kept[line_graph_torch(edge_index[:, kept], num_nodes)]
    src, dst = edge_index
    num_edges = src.numel()
    out_deg = torch.bincount(src, minlength=num_nodes)
    by_src = torch.argsort(src, stable=True)
    first_out = torch.cumsum(out_deg, 0) - out_deg
    n_next = out_deg[dst]
    e1 = torch.repeat_interleave(torch.arange(num_edges), n_next)
    group_start = torch.repeat_interleave(torch.cumsum(n_next, 0) - n_next, n_next)
    rank = torch.arange(e1.numel()) - group_start
    e2 = by_src[first_out[dst[e1]] + rank]
    return torch.stack([e1, e2])


def canonical_edges_rows(center, nbr, image):
    """``canonical_edges`` before the keyed-unique lever: ``np.unique(axis=0)`` over the rows."""
    import numpy as np

    swap = nbr < center
    src = np.where(swap, nbr, center)
    dst = np.where(swap, center, nbr)
    img = np.where(swap[:, None], -image, image)
    rows = np.unique(np.column_stack([src, dst, img]), axis=0)
    return rows[:, :2].T.copy(), rows[:, 2:].copy()


def build_graph_before(structure, params=None):
    """``bench.graphs.build_graph`` with the builder levers undone (:func:`line_graph_torch`,
    :func:`canonical_edges_rows`)."""
    from unittest import mock

    from bench.graphs import build as build_module

    with mock.patch.object(build_module, "line_graph", line_graph_torch), \
            mock.patch.object(build_module, "canonical_edges", canonical_edges_rows):
        return build_module.build_graph(structure, params or build_module.GraphParams())


BUILDERS = {"baseline": "bench.graphs:build_graph", "before": "bench.perf.variants:build_graph_before"}


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
