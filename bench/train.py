"""The training loop: AdamW + OneCycle, standardised targets, early stopping, resumable checkpoints.

Resuming is exact: batch order depends only on ``(seed, epoch)``, and ``last.pt`` holds the model,
optimizer, scheduler and loop state, written atomically at every epoch end and every
``checkpoint_every_s`` seconds within an epoch. A run killed at any point continues from its last
checkpoint and ends with the same weights as an uninterrupted run.

Checkpoints are plain data (tensors, dicts, lists, numbers, strings) read with ``weights_only=True`` and
carry a content hash and the run's identity (``bench.artifacts``). The checkpoint before ``last.pt`` is kept
as ``prev.pt``: a corrupt ``last.pt`` resumes from it, both corrupt start over, saying so. A corrupt
``best.pt`` at the end trains again. A NaN/inf training loss stops the run with :class:`NonFiniteLossError`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch

from bench.dataset import LabelledGraphs
from bench.frozen_trunk import embed_once, trunk_is_frozen
from bench.metrics import evaluate


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "mse"  # "mse" or "l1", on standardised targets
    weighting: str = "equal"  # several properties: "equal" (each property's mean loss counts the same) or "count"
    pct_start: float = 0.3
    patience: int | None = None
    select: str = "best"  # "best" (lowest validation MAE) or "last"
    seed: int = 0
    device: str = "cpu"
    checkpoint_every_s: float = 300.0


@dataclass
class LoopState:
    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done in the current epoch (mid-epoch checkpoints)
    best_val_mae: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0


def batches(graphs: list, batch_size: int, order: list[int] | None = None):
    order = range(len(graphs)) if order is None else order
    order = list(order)
    for start in range(0, len(order), batch_size):
        yield Batch.from_data_list([graphs[k] for k in order[start:start + batch_size]])


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and normalisation parameters (every parameter with ndim <= 1)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def masked_loss(pred: torch.Tensor, target: torch.Tensor, kind: str, weighting: str = "equal") -> torch.Tensor:
    r"""Loss over labelled entries only: NaN targets (missing labels) contribute neither loss nor gradient.

    ``weighting="equal"``: :math:`\frac{1}{|P'|}\sum_{p \in P'} \frac{1}{n_p}\sum_{i:\,y_{ip}\ne\varnothing}
    \ell(\hat y_{ip}, y_{ip})` over the properties :math:`P'` labelled in the batch, so a property with few
    labels weighs as much as one with many (targets are standardised per property, so the scales match);
    ``"count"``: the mean over all labelled entries. For one property both are the plain mean.
    """
    mask = ~torch.isnan(target)
    diff = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    err = diff.abs() if kind == "l1" else diff.pow(2)
    if weighting == "count" or err.size(1) == 1:
        return err.sum() / mask.sum().clamp_min(1)
    if weighting != "equal":
        raise ValueError(f"unknown weighting {weighting!r}; use 'equal' or 'count'")
    per_property = err.sum(0) / mask.sum(0).clamp_min(1)
    present = mask.any(0)
    return per_property[present].mean() if present.any() else err.sum() * 0.0


@torch.no_grad()
def predict(model, graphs: list, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Predictions in target units, ``[N, P]``."""
    was_training = model.training
    model.eval()
    out = [model.predict(b.to(device)).cpu() for b in batches(graphs, batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.head.out_features))


def validation_metrics(targets: np.ndarray, pred: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """One property: MAE and R² in target units. Several: ``val_mae`` is the mean over properties of the
    MAE divided by the property's training standard deviation (labelled entries only), so properties in
    different units count alike; ``val_r2`` the mean R²."""
    if targets.ndim == 1:
        m = evaluate(targets, pred[:, 0])
        return {"val_mae": m["mae"], "val_r2": m["r2"]}
    maes, r2s = [], []
    for p in range(targets.shape[1]):
        mask = ~np.isnan(targets[:, p])
        if mask.sum() >= 2:
            m = evaluate(targets[mask, p], pred[mask, p])
            maes.append(m["mae"] / std[p])
            r2s.append(m["r2"])
    return {"val_mae": float(np.mean(maes)), "val_r2": float(np.mean(r2s))}


class NonFiniteError(RuntimeError, ValueError):
    """Training or evaluation produced NaN/inf: the run must end FAILED, never FINISHED. A ValueError too, so
    the commands' existing error handling prints the message without a traceback."""


class NonFiniteLossError(NonFiniteError):
    """The training loss became NaN or infinite (the message names the epoch and step)."""


class Trainer:
    """``identity`` (e.g. ``{"run_key": ...}``) is stamped on every checkpoint with the training configuration;
    a checkpoint that does not match, is corrupt or cannot be verified is not resumed from (see ``_resume``)."""

    def __init__(self, model, config: TrainConfig, workdir: Path,
                 on_epoch: Callable[[dict], None] | None = None, progress=None, identity: dict | None = None,
                 head_init: str = "random"):
        if head_init not in ("random", "ridge"):
            raise ValueError(f"head_init {head_init!r}: 'random' (as built) or 'ridge' (bench.head_init)")
        self.model = model.to(config.device)
        self.head_init = head_init
        self.head_fit: dict | None = None  # what the ridge fit chose, when head_init is 'ridge'
        self.embedded_once = False  # whether the head trained on the frozen trunk's cached embeddings
        self.cfg = config
        self.workdir = Path(workdir)
        self.on_epoch = on_epoch
        self.progress = progress  # a bench.progress.TrainingProgress or None
        self.state = LoopState()
        train = {k: v for k, v in asdict(config).items() if k not in ("device", "checkpoint_every_s")}
        self.identity = {"train": train, **(identity or {})}

    # -- checkpoints -------------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.workdir / "last.pt"

    @property
    def prev_path(self) -> Path:
        return self.workdir / "prev.pt"

    @property
    def best_path(self) -> Path:
        return self.workdir / "best.pt"

    def _say(self, message: str, warning: bool = True) -> None:
        from rich.console import Console
        from rich.markup import escape

        console = getattr(self.progress, "console", None) or Console(stderr=True)
        console.print(f"[yellow]{escape(message)}[/]" if warning else escape(message), highlight=False)

    def _save(self, path: Path, payload: dict) -> None:
        from bench.artifacts import save_torch

        save_torch(path, payload, self.identity)

    def _load(self, path: Path) -> dict:
        from bench.artifacts import load_torch

        return load_torch(path, self.identity, self.cfg.device)[0]

    def _checkpoint(self, optimizer, scheduler) -> None:
        # The previous checkpoint is kept: a last.pt corrupted on disk falls back to it instead of starting over.
        if self.last_path.exists():
            os.replace(self.last_path, self.prev_path)
        self._save(self.last_path, {"model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                                    "scheduler": scheduler.state_dict(), "state": asdict(self.state),
                                    "config": asdict(self.cfg)})

    def _resume(self, optimizer, scheduler) -> bool:
        """Continue from last.pt, else from prev.pt, else start over; every fallback is said, with why."""
        from bench.artifacts import ArtifactError

        problems = []
        for path in (self.last_path, self.prev_path):
            if not path.exists():
                continue
            try:
                ckpt = self._load(path)
                # state first: a payload of the wrong shape fails here, before the model is touched
                state = LoopState(**ckpt["state"])
                self.model.load_state_dict(ckpt["model"])
                optimizer.load_state_dict(ckpt["optimizer"])
                scheduler.load_state_dict(ckpt["scheduler"])
            except (ArtifactError, KeyError, TypeError, RuntimeError, ValueError) as err:
                problems.append(str(err) if isinstance(err, ArtifactError) else
                                f"{path}: not a usable checkpoint ({type(err).__name__}: {err})")
                continue
            self.state = state
            if problems:
                self._say(f"warning: {problems[0]}; resuming from the previous checkpoint {path.name} instead")
                self.last_path.unlink(missing_ok=True)
            return True
        if problems:
            self._say("warning: " + "; ".join(problems) + "; no usable checkpoint left, starting over")
            for path in (self.last_path, self.prev_path):
                path.unlink(missing_ok=True)
        return False

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(self, train: LabelledGraphs, val: LabelledGraphs) -> LoopState:
        from bench.artifacts import ArtifactError

        cfg, model = self.cfg, self.model
        backbone = getattr(model, "backbone", None)
        if backbone is not None and hasattr(backbone, "calibrate"):
            # before the snapshot below and before any resume: a resumed checkpoint carries the same statistics
            backbone.calibrate(batch.to(cfg.device) for batch in batches(train.graphs, cfg.batch_size))
        self.embedded_once = trunk_is_frozen(model)
        if self.embedded_once:
            t0 = time.perf_counter()
            train = LabelledGraphs(train.ids, embed_once(model, train.graphs, device=cfg.device), train.targets)
            val = LabelledGraphs(val.ids, embed_once(model, val.graphs, device=cfg.device), val.targets)
            self._say(f"trunk frozen: embedded the {len(train)} training and {len(val)} validation structures once "
                      f"({time.perf_counter() - t0:.1f} s); the head trains on the embeddings", warning=False)
        if self.head_init == "ridge":
            from bench.head_init import ridge_head

            self.head_fit = ridge_head(model, train.graphs, device=cfg.device)
            self._say(f"head: ridge fit on the {len(train)} training embeddings (alpha {self.head_fit['alpha']:g}, "
                      f"training R² {self.head_fit['train_r2']:.3f}), then fine-tuned", warning=False)
        # The weights before any checkpoint is loaded are the run's initial ones (models are built from the
        # seed): kept to train again should the best-validation checkpoint turn out corrupt at the end.
        initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        st = self._fit_once(train, val)
        if cfg.select == "best" and self.best_path.exists():
            try:
                model.load_state_dict(self._load(self.best_path)["model"])
            except (ArtifactError, KeyError, RuntimeError) as err:
                self._say(f"warning: {err}; the best-validation model is lost, training again from the start")
                for path in (self.last_path, self.prev_path, self.best_path):
                    path.unlink(missing_ok=True)
                model.load_state_dict(initial)
                self.state = LoopState()
                st = self._fit_once(train, val)
                model.load_state_dict(self._load(self.best_path)["model"])
        return st

    def _fit_once(self, train: LabelledGraphs, val: LabelledGraphs) -> LoopState:
        cfg, model = self.cfg, self.model
        self.workdir.mkdir(parents=True, exist_ok=True)
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch, pct_start=cfg.pct_start)
        resumed = self._resume(optimizer, scheduler)
        if self.progress:
            self.progress.start(cfg.epochs, steps_per_epoch, self.state, resumed)

        mean, std = model.target_mean.to(cfg.device), model.target_std.to(cfg.device)
        st = self.state
        while st.epoch < cfg.epochs and not st.stopped_early:
            model.train()
            t0, last_ckpt, losses = time.perf_counter(), time.monotonic(), []
            order = epoch_order(len(train), cfg.seed, st.epoch)[st.step_in_epoch * cfg.batch_size:]
            for batch in batches(train.graphs, cfg.batch_size, order):
                batch = batch.to(cfg.device)
                loss = masked_loss(model(batch), (batch.y - mean) / std, cfg.loss, cfg.weighting)
                value = loss.item()
                if not math.isfinite(value):  # before the step: no NaN weights reach a checkpoint
                    if self.progress:
                        self.progress.stop()
                    raise NonFiniteLossError(
                        f"training loss is {value} at epoch {st.epoch + 1}/{cfg.epochs}, step "
                        f"{st.step_in_epoch + 1}/{steps_per_epoch} (lr {cfg.lr:g}): the run diverged. It is "
                        f"deterministic, so rerunning or --fresh gives the same; try a lower learning rate "
                        f"(--params '{{\"lr\": {cfg.lr / 10:g}}}') or check the targets for extreme values")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(value)
                st.step_in_epoch += 1
                if self.progress:
                    self.progress.step(losses[-1])
                if time.monotonic() - last_ckpt > cfg.checkpoint_every_s:
                    st.train_seconds += time.perf_counter() - t0
                    t0, last_ckpt = time.perf_counter(), time.monotonic()
                    self._checkpoint(optimizer, scheduler)
            st.train_seconds += time.perf_counter() - t0

            val_metrics = validation_metrics(val.targets, predict(model, val.graphs, device=cfg.device),
                                             model.target_std.cpu().numpy())
            record = {"epoch": st.epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                      **val_metrics, "lr": scheduler.get_last_lr()[0]}
            st.history.append(record)
            if val_metrics["val_mae"] < st.best_val_mae:
                st.best_val_mae, st.best_epoch, st.bad_epochs = val_metrics["val_mae"], st.epoch, 0
                self._save(self.best_path, {"model": model.state_dict(), "epoch": st.epoch})
            else:
                st.bad_epochs += 1
                if cfg.patience is not None and st.bad_epochs >= cfg.patience:
                    st.stopped_early = True
            st.epoch += 1
            st.step_in_epoch = 0
            self._checkpoint(optimizer, scheduler)
            if self.on_epoch:
                self.on_epoch(record)
            if self.progress:
                self.progress.epoch_end(record, st)

        if self.progress:
            self.progress.stop()
        return st
