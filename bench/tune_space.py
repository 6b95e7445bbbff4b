"""The tuning search space: Optuna distributions per hyper-parameter, per strategy, budget and backbone."""

from __future__ import annotations

from typing import Any


SPACES = ("full", "finetune")


def search_space(strategy: str, budget: str, backbone: str = "alignn", space: str = "full") -> dict[str, Any]:
    """Optuna distributions per hyper-parameter, centred on the budget's settings. The ``smoke`` budget proves
    the pipeline in seconds, so its space never makes a run bigger or longer than the budget's own.

    ``space``: ``full`` tunes the whole recipe; ``finetune`` (ptft, mpt) tunes only what the fine-tuning run
    decides (lr, weight decay, batch size, epochs, mode) and keeps the trunk: every trial fine-tunes the budget's
    own pre-trained trunk (a shipped one where the zoo has it), so a trial costs one fine-tuning run, not a
    pre-training. In ``full``, a trial that draws another width or depth (or mpt weighting) pre-trains its own.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from bench.budgets import get_budget
    from bench.finetune import MODES
    from bench.run import _backbone_defaults
    from bench.strategies import get_strategy

    get_strategy(strategy)
    check_space(space, strategy)
    b = get_budget(budget)
    arch = _backbone_defaults(backbone) | b.backbone_config(backbone)
    bs, e = b.batch_size, b.epochs
    cheap = budget == "smoke"

    def layers(name: str):
        n = arch[name]
        return IntDistribution(max(1, n // 2), n if cheap else max(2, n * 3 // 2))

    def width(name: str):
        w = arch[name]
        return CategoricalDistribution(sorted({max(8, w // 2), w} | (set() if cheap else {w * 2})))

    lr = _lr(strategy, b, backbone)
    dists: dict[str, Any] = {
        "lr": FloatDistribution(lr / 10, lr * 10, log=True),
        "weight_decay": FloatDistribution(1e-7, 1e-2, log=True),
        "batch_size": CategoricalDistribution(sorted({bs, bs * 2} | (set() if cheap else {max(4, bs // 2)}))),
    }
    # each backbone's width and depth; a backbone not listed here is tuned on training settings only
    for name in ARCH_SPACE.get(backbone, ()) if space == "full" else ():
        dists[name] = layers(name) if name in DEPTHS else width(name)
    dists["epochs"] = IntDistribution(min(e, max(2, e // 2)), e if cheap else max(3, e * 3 // 2))
    if strategy in ("ptft", "mpt"):
        from backbones import get_backbone_class
        from bench.finetune import check_mode_applies

        kinds = get_backbone_class(backbone).group_kinds
        dists["ft_mode"] = CategoricalDistribution([m for m in MODES if _applies(check_mode_applies, m,
                                                                                   backbone, kinds)])
    if strategy == "mpt" and space == "full":  # the trunk's loss weighting: pre-training decides it
        dists["weighting"] = CategoricalDistribution(["equal", "count"])
    return dists


ARCH_SPACE: dict[str, tuple[str, ...]] = {
    "alignn": ("hidden_features", "alignn_layers", "gcn_layers"),
    "cgcnn": ("atom_features", "conv_layers", "hidden_features"),
    "schnet": ("hidden_features", "num_filters", "interactions"),
}
DEPTHS = {"alignn_layers", "gcn_layers", "conv_layers", "interactions"}


def check_space(space: str, strategy: str) -> None:
    if space not in SPACES:
        raise ValueError(f"--space {space!r}: choose one of {', '.join(SPACES)}")
    if space == "finetune" and strategy == "scratch":
        raise ValueError("--space finetune keeps a pre-trained trunk, and scratch has none: tune scratch with "
                         "--space full")


def _lr(strategy: str, b, backbone: str) -> float:
    if strategy == "ptft":  # a shipped foundation trunk is fine-tuned at its own, lower rate (bench.foundation)
        from bench.foundation import FOUNDATIONS, default_pt_source

        f = FOUNDATIONS.get(default_pt_source(backbone))
        return b.lr * f.lr_factor if f else b.lr
    return b.lr


def budget_point(space: dict[str, Any], strategy: str, budget: str, backbone: str = "alignn") -> dict[str, Any]:
    """The budget's own settings, as a point of ``space``: a new study runs it first, so the tuned recipe is
    compared with the one every record uses, on the same validation data and in the same study."""
    from bench.budgets import get_budget
    from bench.run import _backbone_defaults

    b = get_budget(budget)
    arch = _backbone_defaults(backbone) | b.backbone_config(backbone)
    own = {"lr": _lr(strategy, b, backbone), "weight_decay": b.weight_decay, "batch_size": b.batch_size, "epochs": b.epochs,
           "ft_mode": "all", "weighting": "equal"} | {k: arch[k] for k in ARCH_SPACE.get(backbone, ()) if k in arch}
    point = {}
    for name, d in space.items():
        value = own.get(name)
        if value is None or not d._contains(d.to_internal_repr(value)):
            return {}  # a budget outside its own space (smoke's weight decay, say) has no point to compare
        point[name] = value
    return point


def _applies(check, mode: str, backbone: str, kinds) -> bool:
    try:
        check(mode, backbone, kinds)
    except ValueError:
        return False
    return True


def suggest(trial, space: dict[str, Any]) -> dict[str, Any]:
    """Draw one value per distribution from ``trial`` (an optuna Trial or FixedTrial)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, FloatDistribution):
            out[name] = trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, list(d.choices))
        else:
            raise TypeError(f"unsupported distribution for {name}: {d!r}")
    return out
