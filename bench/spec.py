"""What a run is asked to do, checked before any work starts.

``RunSpec`` is built once, from ``bench run``'s options, a sweep cell or an Optuna trial, and validated in its
constructor: every option is checked (names, ranges, types of ``--params`` values against the training settings
and the backbone's arguments) before data loads, a folder is created or an MLflow run exists. A bad option raises
one ``SpecError`` whose message names the option and what it accepts.

Importing this module is light (no torch): the checks that need heavy modules import them when they run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
PT_SIZE_NAMES = ("all", "1000")
WEIGHTINGS = ("equal", "count")
# Settings of a run that ``--params`` may not change: they are options of their own.
NOT_OVERRIDABLE = ("seed", "device")
# Allowed values of the string-valued settings, and lower bounds of the numeric ones: (bound, inclusive).
CHOICES = {"loss": ("mse", "l1"), "select": ("best", "last"), "weighting": WEIGHTINGS, "norm": ("batch", "layer")}
LOWER = {"epochs": (1, True), "batch_size": (1, True), "lr": (0, False), "weight_decay": (0, True),
         "pct_start": (0, False), "patience": (1, True), "checkpoint_every_s": (0, False),
         "hidden_features": (1, True), "embedding_features": (1, True), "edge_bins": (1, True),
         "angle_bins": (1, True), "cutoff": (0, False), "alignn_layers": (0, True), "gcn_layers": (0, True),
         "atom_features": (1, True), "conv_layers": (0, True), "bond_dmax": (0, False), "bond_step": (0, False),
         "num_filters": (1, True), "interactions": (0, True), "num_gaussians": (2, True),
         "readout_features": (1, True)}
UPPER = {"pct_start": 1}
# Graph-rule levers ``--params`` may set (bench.graphs.build.GraphParams): name -> (type, lower bound, inclusive).
GRAPH_OVERRIDES = {"three_body_cutoff": (float, 0, False), "neighbor_cap": (int, 1, True)}


class SpecError(ValueError):
    """An option of a run is not valid; the message names it and what is allowed."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(option: str, value: Any, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise SpecError(f"{option} must be an integer ≥ {minimum}; got {value!r}")
    return value


def check_choice(option: str, value: Any, allowed, noun: tuple[str, str] | None = None) -> str:
    """``value`` among ``allowed``; ``noun`` (singular, plural) words the message as "unknown budget 'x';
    known budgets: ..."."""
    if value not in allowed:
        if noun:
            raise SpecError(f"unknown {noun[0]} {value!r}; known {noun[1]}: {', '.join(allowed)}")
        raise SpecError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_budget(budget: Any) -> str:
    from bench.budgets import BUDGETS

    return check_choice("--budget", budget, list(BUDGETS), ("budget", "budgets"))


def check_backbone(backbone: Any) -> str:
    """A graph backbone whose optional dependency (``Backbone.extra``) is installed, or a classical baseline
    (``backbones.baselines``: they run through ``bench run`` too)."""
    import importlib.util

    from backbones import BACKBONES, get_backbone_class
    from backbones.baselines import BASELINES

    check_choice("--backbone", backbone, [*BACKBONES, *BASELINES], ("backbone", "backbones"))
    if backbone in BASELINES:
        return backbone
    extra = get_backbone_class(backbone).extra
    if extra and importlib.util.find_spec(extra) is None:
        raise SpecError(f"--backbone {backbone} needs the optional dependency {extra}, which is not installed: "
                        f'pip install -e ".[{extra}]" in a checkout of tl-bench '
                        f"(pip install 'tl-bench[{extra}]' otherwise)")
    return backbone


def check_baseline_options(backbone: str, strategy: str, overrides: Mapping[str, Any] | None,
                           epochs: int | None = None) -> None:
    """A baseline trains on the target alone with fixed hyper-parameters: no ptft/mpt, no ``--params``, no
    ``--epochs`` (it trains no epochs; taking the option would change nothing while seeming to)."""
    from backbones.baselines import get_baseline_class, is_baseline

    if not is_baseline(backbone):
        return
    from bench.baseline_run import BASELINE_STRATEGIES, refusal

    if strategy not in BASELINE_STRATEGIES:
        raise SpecError(refusal(backbone, strategy))
    if overrides:
        fixed = ", ".join(f"{k} {v}" for k, v in get_baseline_class(backbone).hyper_parameters().items())
        raise SpecError(f"--params: baseline {backbone} has fixed hyper-parameters ({fixed or 'none'}), the same "
                        f"in every record; it takes no --params")
    if epochs is not None:
        raise SpecError(f"--epochs: baseline {backbone} trains no epochs (it is fitted once); drop --epochs")


def check_strategy(strategy: Any) -> str:
    from bench.strategies import STRATEGIES

    return check_choice("--strategy", strategy, list(STRATEGIES), ("strategy", "strategies"))


def check_device(device: Any) -> str:
    """auto | cpu | cuda | cuda:N, and a CUDA device only where CUDA is available."""
    if not isinstance(device, str) or not DEVICE_RE.match(device):
        raise SpecError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SpecError(f"--device {device}: CUDA is not available here; use --device cpu or auto")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise SpecError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                            f"(cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    return device


def check_pt_size(value: Any) -> int | str | None:
    """A positive number of structures per source, ``"1000"`` (the given set of BG/FE) or ``"all"``; text
    holding a number becomes the number."""
    if value is None or value in PT_SIZE_NAMES:
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if not _is_int(value) or value < 1:
        raise SpecError(f"--pt-size must be a positive number of structures, 1000 (the given BG/FE set) or all; "
                        f"got {value!r}")
    return value


def check_task(task: Any):
    from tasks import all_tasks

    if task not in all_tasks():
        raise SpecError(f"unknown task {task!r}; known tasks: {', '.join(sorted(all_tasks()))}")
    return all_tasks()[task]


def check_sources(option: str, names, target: str | None):
    """Pre-training sources (task names or property codes) resolved to task names."""
    from bench.strategies import resolve_source

    out = []
    for name in names:
        try:
            out.append(resolve_source(name, target))
        except KeyError as err:
            raise SpecError(f"{option}: {err.args[0]}") from None
    return tuple(out)


@dataclass(frozen=True)
class RunSpec:
    """A run's options. Validated on construction; ``SpecError`` names the first bad option."""

    task: str
    strategy: str = "scratch"
    budget: str = "quick"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None  # None: the budget's
    ft_size: int | None = None
    trial: int = 1
    fold: int | None = None
    pt_source: str | None = None  # ptft
    mpt_sources: tuple[str, ...] | None = None  # mpt; None: the task's default set
    pt_size: int | str | None = None  # None: the strategy's default (941)
    weighting: str | None = None  # mpt pre-training
    ft_mode: str = "all"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # ``--params``: training settings, backbone args
    backbone: str = "alignn"
    # accept a pre-training source of the target's own property (refused otherwise; the record labels it)
    allow_target_source: bool = False

    @classmethod
    def from_options(cls, task: str, strategy: str = "scratch", budget: str = "quick", seed: int = 0,
                     device: str = "auto", epochs: int | None = None, ft_size: int | None = None, trial: int = 1,
                     fold: int | None = None, pretrain: dict | None = None, ft_mode: str = "all",
                     overrides: dict | None = None, backbone: str = "alignn") -> "RunSpec":
        """From ``run_benchmark``'s keyword arguments (``pretrain``: source / sources / pt_size / weighting)."""
        pretrain = dict(pretrain or {})
        unknown = set(pretrain) - {"source", "sources", "pt_size", "weighting", "allow_target_source"}
        if unknown:
            raise SpecError(f"unknown pre-training option(s) {', '.join(sorted(unknown))}; known: source, "
                            "sources, pt_size, weighting, allow_target_source")
        sources = pretrain.get("sources")
        return cls(task, strategy, budget, seed, device, epochs, ft_size, trial, fold, pretrain.get("source"),
                   tuple(sources) if sources else None, pretrain.get("pt_size"), pretrain.get("weighting"),
                   ft_mode, dict(overrides or {}), backbone,
                   allow_target_source=bool(pretrain.get("allow_target_source")))

    def __post_init__(self) -> None:
        from bench.finetune import MODES

        task = check_task(self.task)
        check_strategy(self.strategy)
        check_budget(self.budget)
        check_backbone(self.backbone)
        check_baseline_options(self.backbone, self.strategy, self.overrides, self.epochs)
        check_int("--seed", self.seed, 0)
        check_device(self.device)
        if self.epochs is not None:
            check_int("--epochs", self.epochs, 1)
        self._check_split(task)
        check_choice("--ft-mode", self.ft_mode, list(MODES), ("fine-tuning mode", "modes"))
        if self.strategy == "scratch" and self.ft_mode != "all":
            raise SpecError(f"--ft-mode {self.ft_mode} needs a pre-trained model (--strategy ptft or mpt); "
                            "scratch trains everything")
        self._check_mode_applies("--ft-mode", self.ft_mode)
        self._check_pretrain()
        if not isinstance(self.overrides, Mapping):
            raise SpecError(f"--params must be a JSON object of parameter: value; got {self.overrides!r}")
        object.__setattr__(self, "overrides", dict(self.overrides))
        self._check_overrides()

    def _check_split(self, task) -> None:
        if self.fold is not None:
            check_int("--fold", self.fold, 0)
            if self.ft_size is not None:
                raise SpecError("give --ft-size/--trial (a fine-tuning subset) or --fold (a CV fold), not both")
            if task.cv is None:
                raise SpecError(f"--fold: task {self.task!r} has no cross-validation protocol; drop --fold")
            n = getattr(task.cv, "n_splits", None)
            if n is not None and self.fold >= n:
                raise SpecError(f"--fold must be in 0..{n - 1} for task {self.task!r}; got {self.fold}")
        if self.ft_size is not None:
            check_int("--ft-size", self.ft_size, 2)
        check_int("--trial", self.trial, 1)
        trials = getattr(task.protocol(self.fold), "trials", None)
        if self.ft_size is not None and trials and self.trial > trials:
            raise SpecError(f"--trial must be in 1..{trials} for task {self.task!r}; got {self.trial}")

    def _check_pretrain(self) -> None:
        from bench.foundation import check_options, default_pt_source, is_foundation
        from bench.strategies import mpt_sources

        given = [name for name, v in (("--pt-source", self.pt_source), ("--mpt-sources", self.mpt_sources),
                                      ("--pt-size", self.pt_size), ("--weighting", self.weighting)) if v]
        if self.strategy == "scratch" and given:
            raise SpecError(f"{', '.join(given)}: strategy scratch pre-trains nothing; use --strategy ptft or mpt")
        if self.strategy != "ptft" and self.pt_source:
            raise SpecError(f"--pt-source is for --strategy ptft; strategy {self.strategy} takes --mpt-sources")
        if self.strategy != "mpt" and self.mpt_sources:
            raise SpecError(f"--mpt-sources is for --strategy mpt; strategy {self.strategy} takes --pt-source")
        if self.strategy != "mpt" and self.weighting:
            raise SpecError("--weighting is for --strategy mpt (several pre-training properties)")
        object.__setattr__(self, "pt_size", check_pt_size(self.pt_size))
        if self.weighting is not None:
            check_choice("--weighting", self.weighting, WEIGHTINGS)
        try:  # shipped trunks (--pt-source mptrj) and backbones that are not pre-trained here
            check_options(self.strategy, self.backbone, self.pt_source, self.mpt_sources, self.pt_size,
                          self.overrides if isinstance(self.overrides, Mapping) else {})
        except ValueError as err:
            raise SpecError(str(err)) from None
        source = self.pt_source or default_pt_source(self.backbone)
        if self.pt_source is not None and not is_foundation(source):
            check_sources("--pt-source", [self.pt_source], self.task)
        if self.strategy == "ptft" and not is_foundation(source):
            from bench.strategies import check_target_source, resolve_source

            try:
                check_target_source(self.task, [source], [resolve_source(source, self.task)],
                                    self.allow_target_source)
            except ValueError as err:
                raise SpecError(f"--pt-source: {err}") from None
        if self.strategy == "mpt":
            requested = list(self.mpt_sources) if self.mpt_sources else None
            if requested:
                check_sources("--mpt-sources", requested, self.task)
            try:
                mpt_sources(self.task, requested, self.allow_target_source)
            except ValueError as err:
                raise SpecError(f"--mpt-sources: {err}") from None

    def _check_mode_applies(self, where: str, mode: str) -> None:
        from backbones import get_backbone_class
        from backbones.baselines import is_baseline
        from bench.finetune import check_mode_applies

        if is_baseline(self.backbone):
            return  # scratch only (check_baseline_options): always mode all
        kinds = get_backbone_class(self.backbone).group_kinds
        if not kinds:
            return  # a backbone that does not declare its kinds: apply_mode checks its real groups
        try:
            check_mode_applies(mode, self.backbone, kinds)
        except ValueError as err:
            raise SpecError(f"{where}: {err}") from None

    def _check_overrides(self) -> None:
        import typing

        from bench.finetune import MODES

        if not self.overrides:
            return
        from backbones import get_backbone_class
        from bench.train import TrainConfig

        train_types = {k: v for k, v in typing.get_type_hints(TrainConfig).items() if k not in NOT_OVERRIDABLE}
        try:
            init = get_backbone_class(self.backbone).__init__
        except KeyError as err:
            raise SpecError(f"--backbone: {err.args[0]}") from None
        backbone_types = {k: v for k, v in typing.get_type_hints(init).items() if k != "return"}
        for name, value in self.overrides.items():
            where = f"--params {name}"
            if name == "ft_mode":
                if self.strategy == "scratch":
                    raise SpecError(f"{where}: strategy scratch has no fine-tuning mode")
                check_choice(where, value, list(MODES))
                self._check_mode_applies(where, value)
            elif name == "weighting":
                if self.strategy != "mpt":
                    raise SpecError(f"{where}: weighting is for --strategy mpt")
                check_choice(where, value, WEIGHTINGS)
            elif name in GRAPH_OVERRIDES:
                self._check_graph_override(where, name, value)
            elif name in backbone_types or name in train_types:
                _check_value(where, name, value, backbone_types.get(name) or train_types[name])
            else:
                known = sorted({*train_types, *backbone_types, *GRAPH_OVERRIDES, "ft_mode", "weighting"})
                raise SpecError(f"--params: unknown parameter {name!r}; known: {', '.join(known)}"
                                + (f" ({name} is an option of its own: --{name})" if name in NOT_OVERRIDABLE
                                   else ""))

    def _check_graph_override(self, where: str, name: str, value: Any) -> None:
        from backbones import get_backbone_class

        kind, bound, inclusive = GRAPH_OVERRIDES[name]
        if not isinstance(get_backbone_class(self.backbone).graph_rule, str):
            raise SpecError(f"{where}: the graph levers change the ALIGNN graph (bench/graphs); backbone "
                            f"{self.backbone} builds its own graph, which they do not touch")
        if self.strategy != "scratch":
            # pre-training builds the reference graphs (bench/pretrain.py): a trunk would be fine-tuned on
            # graphs other than those it learnt on, which no result should mix up silently
            raise SpecError(f"{where}: the graph levers are for --strategy scratch for now; pre-training "
                            f"builds the reference graphs, so strategy {self.strategy} cannot take them")
        if value is None:
            return  # the reference rule, as if not given
        ok = _is_int(value) if kind is int else (isinstance(value, (int, float)) and not isinstance(value, bool)
                                                 and math.isfinite(value))
        if not ok or value < bound or (value == bound and not inclusive):
            what = "an integer" if kind is int else "a length in Å"
            raise SpecError(f"{where} must be {what} {'≥' if inclusive else '>'} {bound}, or null; got {value!r}")

    @property
    def pretrain(self) -> dict[str, Any]:
        """The ``pretrain`` dictionary ``resolve_config`` takes."""
        out = {"source": self.pt_source, "sources": list(self.mpt_sources) if self.mpt_sources else None,
               "pt_size": self.pt_size, "weighting": self.weighting,
               "allow_target_source": True if self.allow_target_source else None}
        return {k: v for k, v in out.items() if v is not None}


def _check_value(where: str, name: str, value: Any, hint) -> None:
    """``value`` against a field's type (int, float, str, bool or Optional of one) and its known range."""
    import types
    import typing

    args = typing.get_args(hint)
    optional = type(None) in args and (typing.get_origin(hint) in (typing.Union, types.UnionType))
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if value is None:
        if optional:
            return
        raise SpecError(f"{where} must be {_type_name(base)}; got null")
    ok = {int: _is_int(value), bool: isinstance(value, bool), str: isinstance(value, str),
          float: (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value))}.get(base)
    if ok is None:
        return  # a type this check does not know: the backbone will judge
    if not ok:
        raise SpecError(f"{where} must be {_type_name(base)}; got {value!r}")
    if name in CHOICES:
        check_choice(where, value, CHOICES[name])
    if base in (int, float) and name in LOWER:
        bound, inclusive = LOWER[name]
        if value < bound or (value == bound and not inclusive):
            raise SpecError(f"{where} must be {'≥' if inclusive else '>'} {bound}; got {value!r}")
        if name in UPPER and value >= UPPER[name]:
            raise SpecError(f"{where} must be < {UPPER[name]}; got {value!r}")


def _type_name(t) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(t, str(t))
