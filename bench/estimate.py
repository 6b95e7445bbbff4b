"""How long a training run will take, printed before it starts.

Timed on the run's own model and real batches: a few optimizer steps (forward, backward, AdamW), one
validation pass and one checkpoint save, then the arithmetic of ``predict_seconds``. The model's weights,
buffers and the RNG are restored afterwards, so the run trains exactly as it would have without the estimate.
Early stopping cannot be foreseen: with a patience, the figure is an upper bound ("≤").
"""

from __future__ import annotations

import copy
import io
import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timings:
    """Seconds measured on real batches: the inputs of the arithmetic."""

    fb_per_structure: float  # collate + forward + loss + backward, per training structure (after warm-up)
    opt_step: float  # one AdamW step (a fixed cost per batch, whatever its size)
    warmup_extra: float  # how much longer the first step took than a warm one (paid once per run)
    eval_per_structure: float  # inference in eval mode, per structure, at the validation batch size
    checkpoint: float  # the per-epoch checkpoint (model + optimizer) and best-model saves
    n_timed: int  # timed steps after the warm-up


@dataclass(frozen=True)
class RunShape:
    n_train: int
    n_val: int
    n_test: int
    batch_size: int
    epochs: int
    patience: int | None = None


@dataclass(frozen=True)
class Estimate:
    seconds: float
    epoch_seconds: float  # training steps + validation + checkpoints of one epoch
    validation_seconds: float  # of one epoch
    test_seconds: float
    shape: RunShape
    n_timed: int
    embed_seconds: float = 0.0  # a frozen trunk's one pass over the training and validation structures

    @property
    def upper_bound(self) -> bool:
        """Early stopping may end the run before its last epoch."""
        return self.shape.patience is not None and self.shape.patience < self.shape.epochs

    def __float__(self) -> float:
        return self.seconds

    def describe(self) -> str:
        s = self.shape
        return (f"{'≤ ' if self.upper_bound else ''}{fmt_seconds(self.seconds, 1)} ({s.epochs} epochs × "
                f"{fmt_seconds(self.epoch_seconds, 2)}, of which validation {fmt_seconds(self.validation_seconds, 2)}"
                + (f"; frozen trunk embedded once {fmt_seconds(self.embed_seconds, 2)}" if self.embed_seconds else "")
                + (f"; test {fmt_seconds(self.test_seconds, 2)}" if s.n_test else "")
                + ("; early stopping may end it sooner" if self.upper_bound else "")
                + f"; from {self.n_timed} timed steps)")


def predict_seconds(t: Timings, shape: RunShape, embed_per_structure: float = 0.0) -> Estimate:
    """The arithmetic: per epoch, every structure's forward/backward, one optimizer step per batch, a validation
    pass over the validation set and the checkpoints; once, the first step's warm-up and the test evaluation.

    With a frozen trunk (``embed_per_structure`` > 0, ``bench.frozen_trunk``) the timings are the head's on
    cached embeddings; the trunk's pass over the training and validation structures is paid once, and the test
    evaluation runs the trunk."""
    steps = math.ceil(shape.n_train / shape.batch_size)
    validation = t.eval_per_structure * shape.n_val
    epoch = t.fb_per_structure * shape.n_train + t.opt_step * steps + validation + t.checkpoint
    embed = embed_per_structure * (shape.n_train + shape.n_val)
    test = (embed_per_structure or t.eval_per_structure) * shape.n_test
    return Estimate(epoch * shape.epochs + t.warmup_extra + embed + test, epoch, validation, test, shape,
                    t.n_timed, embed)


@dataclass(frozen=True)
class Sampling:
    """How many steps are timed: at least ``min_steps`` after ``warmup``; then more, up to ``max_steps``, until
    the timed steps add up to ``seconds`` or to ``share`` of the training they predict, whichever is less. A
    longer sample averages over the neighbours' load bursts; the share keeps short runs from paying for it."""

    warmup: int = 1
    min_steps: int = 4
    max_steps: int = 32
    seconds: float = 3.0
    share: float = 0.05

    def more(self, step_seconds: list[float], steps_in_run: int) -> bool:
        timed = step_seconds[self.warmup:]
        if len(timed) < self.min_steps:
            return True
        spent = sum(timed)
        return len(timed) < self.max_steps and spent < min(self.seconds, self.share * spent / len(timed) * steps_in_run)


def time_steps(model, train_graphs: list, cfg, n_val: int, sampling: Sampling = Sampling()) -> Timings:
    """Time optimizer steps on distinct real batches (epoch 0's order, cycled when an epoch has fewer), a
    validation-sized inference pass and a checkpoint save; restore the model's state and the RNG after."""
    import torch

    from bench.train import batches, epoch_order, masked_loss, param_groups, predict

    device = cfg.device
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    state = copy.deepcopy(model.state_dict())
    was_training = model.training
    order = epoch_order(len(train_graphs), cfg.seed, 0)
    chunks = [order[k:k + cfg.batch_size] for k in range(0, len(order), cfg.batch_size)]
    if not chunks:
        raise ValueError("cannot estimate the training time: the training set is empty")
    fork = torch.random.fork_rng(devices=[torch.device(device)] if str(device).startswith("cuda") else [])
    with fork:
        optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
        mean, std = model.target_mean.to(device), model.target_std.to(device)
        model.train()
        fb, opt, sizes = [], [], []
        w = sampling.warmup
        steps_in_run = len(chunks) * cfg.epochs
        while sampling.more([f + o for f, o in zip(fb, opt)], steps_in_run):
            chunk = chunks[len(fb) % len(chunks)]
            sync()
            t0 = time.perf_counter()
            batch = next(batches(train_graphs, cfg.batch_size, chunk)).to(device)  # collation is part of a step
            loss = masked_loss(model(batch), (batch.y - mean) / std, cfg.loss, cfg.weighting)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loss.item()
            sync()
            t1 = time.perf_counter()
            optimizer.step()
            sync()
            fb.append(t1 - t0)
            opt.append(time.perf_counter() - t1)
            sizes.append(batch.num_graphs)
        timed = len(fb) - w
        fb_ps = sum(fb[w:]) / sum(sizes[w:])
        opt_step = sum(opt[w:]) / timed
        warmup_extra = max(0.0, sum(fb[:w]) + sum(opt[:w]) - fb_ps * sum(sizes[:w]) - opt_step * w)

        val_graphs = train_graphs[:max(1, min(n_val, 64))]  # stand-ins of the validation set's batch shape
        evals = []
        for _ in range(2):  # the first eval-mode pass pays its own one-off costs
            sync()
            t0 = time.perf_counter()
            predict(model, val_graphs, device=device)
            sync()
            evals.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, io.BytesIO())
        torch.save({"model": model.state_dict()}, io.BytesIO())
        checkpoint = time.perf_counter() - t0
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    model.train(was_training)
    return Timings(fb_ps, opt_step, warmup_extra, evals[-1] / len(val_graphs), checkpoint, timed)


def estimate_seconds(model, train_graphs: list, cfg, n_val: int, n_test: int = 0) -> Estimate:
    """Seconds the training will take (validation, checkpoints and the test evaluation included), from timed
    steps of real batches; ``float(estimate)`` is the total, ``estimate.describe()`` the line to print."""
    from bench.frozen_trunk import embed_once, trunk_is_frozen

    shape = RunShape(len(train_graphs), n_val, n_test, cfg.batch_size, cfg.epochs, cfg.patience)
    if not train_graphs or not trunk_is_frozen(model):
        return predict_seconds(time_steps(model, train_graphs, cfg, n_val), shape)
    sample = train_graphs[:64]
    embed_once(model, sample[:1], device=cfg.device)  # first-pass costs
    t0 = time.perf_counter()
    features = embed_once(model, sample, device=cfg.device)
    per_structure = (time.perf_counter() - t0) / len(sample)
    return predict_seconds(time_steps(model, features, cfg, n_val), shape, per_structure)


def fmt_seconds(s: float, digits: int = 0) -> str:
    if s < 120:
        return f"{s:.{digits}f} s" if digits and s < 10 else f"{s:.0f} s"
    return f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"
