"""The model sizes ``bench perf`` measures (``--size``): ALIGNN as a budget builds it, on both sides.

A size is read from :mod:`bench.budgets` (never copied here), so that ``bench perf --size quick`` keeps measuring
what ``bench run --budget quick`` trains when the budget changes: the budget's ALIGNN overrides on top of
ALIGNN's defaults (the paper configuration, which :class:`bench.perf.flops.ModelShape` also holds), and the
budget's batch size. No torch here: the parent process and ``bench --help`` stay light.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.perf.flops import ModelShape

SIZES = ("paper", "quick")
CHOICES = SIZES + ("both",)
# The shape fields are ALIGNN's constructor arguments under other names (ALIGNN's defaults = ModelShape's).
_ARG_OF_FIELD = {"alignn_layers": "alignn_layers", "gcn_layers": "gcn_layers", "hidden": "hidden_features",
                 "embedding": "embedding_features"}


@dataclass(frozen=True)
class PerfSize:
    name: str  # the budget it is read from
    shape: ModelShape
    batch_size: int  # the budget's batch size (``--batch-size`` overrides it)

    def alignn_kwargs(self) -> dict:
        """Arguments of our ``ALIGNN(...)`` (and, under the same names, of upstream's config)."""
        return {arg: getattr(self.shape, f) for f, arg in _ARG_OF_FIELD.items()}

    def describe(self) -> str:
        s = self.shape
        return (f"{self.name} size (ALIGNN {s.alignn_layers}+{s.gcn_layers} layers, hidden {s.hidden}, "
                f"embedding {s.embedding})")

    def as_dict(self) -> dict:
        return {"name": self.name, "batch_size": self.batch_size, "alignn": self.alignn_kwargs(),
                "shape": asdict(self.shape)}


def get_size(name: str) -> PerfSize:
    from bench.budgets import get_budget

    if name not in SIZES:
        raise ValueError(f"unknown --size {name!r}; use one of {', '.join(CHOICES)}")
    budget = get_budget(name)
    overrides = budget.backbone_config("alignn")
    fields = {f: overrides[arg] for f, arg in _ARG_OF_FIELD.items() if arg in overrides}
    unknown = set(overrides) - set(_ARG_OF_FIELD.values())
    if unknown:
        # e.g. a budget that changes the bin counts: the FLOP model and upstream's config would then disagree
        raise ValueError(f"budget {name!r} sets ALIGNN arguments bench perf does not model: "
                         f"{', '.join(sorted(unknown))}")
    return PerfSize(name=name, shape=ModelShape(**fields), batch_size=budget.batch_size)


def sizes_for(choice: str) -> list[PerfSize]:
    """``--size`` -> the sizes measured, in order (``both``: quick, then paper)."""
    if choice == "both":
        return [get_size("quick"), get_size("paper")]
    return [get_size(choice)]
