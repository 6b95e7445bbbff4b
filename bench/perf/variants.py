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
