"""A rich progress bar for training: epoch, loss, validation MAE, ETA."""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column


class EtaModel:
    """Seconds left = steps left × the mean step time over the last ``window`` steps after the first ``warmup``
    + epochs left × the mean validation time (the pause between an epoch's last step and its end).

    rich's own ETA is a rate over the last 30 s: it swung by 2× whenever that window held a validation pass
    or a burst of the neighbours' load; a long window after the warm-up does not.
    """

    def __init__(self, steps_per_epoch: int, warmup: int = 3, window: int | None = None):
        self.warmup = warmup
        self.steps: deque[float] = deque(maxlen=window or max(100, steps_per_epoch))
        self.validations: deque[float] = deque(maxlen=20)
        self._seen = 0

    def add_step(self, seconds: float) -> None:
        self._seen += 1
        if self._seen > self.warmup:
            self.steps.append(seconds)

    def add_validation(self, seconds: float) -> None:
        self.validations.append(seconds)

    def remaining(self, steps_left: int, validations_left: int) -> float | None:
        """None until a step after the warm-up has been timed."""
        if not self.steps:
            return None
        step = sum(self.steps) / len(self.steps)
        val = sum(self.validations) / len(self.validations) if self.validations else 0.0
        return steps_left * step + validations_left * val


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingProgress:
    def __init__(self, console: Console | None = None, clock=time.perf_counter):
        self.console = console or Console(stderr=True)
        self._clock = clock
        self._progress = None
        self._task = None
        self._info = ""

    def start(self, epochs: int, steps_per_epoch: int, state, resumed: bool) -> None:
        self._epochs, self._steps = epochs, steps_per_epoch
        self._eta = EtaModel(steps_per_epoch)
        self._done = state.epoch * steps_per_epoch + state.step_in_epoch
        self._epochs_done = state.epoch
        self._last = self._clock()
        if resumed:
            self.console.print(f"[yellow]Resuming from checkpoint: epoch {state.epoch}/{epochs}, "
                               f"step {state.step_in_epoch}/{steps_per_epoch}[/]")
        if not self.console.is_terminal:
            return  # logs and CI: one line per epoch instead of a live bar
        # The counts, times and ETA come first and never shrink; the loss/validation text takes what the
        # terminal has left and is cut with "…" (at 80 columns rich otherwise chopped the ETA and elapsed time).
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(bar_width=20),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[info]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            console=self.console, transient=False, expand=True)
        self._progress.start()
        self._task = self._progress.add_task("train", total=epochs * steps_per_epoch, completed=self._done,
                                             epoch=state.epoch + 1, epochs=epochs, info="", eta="--")

    def eta_seconds(self) -> float | None:
        """Seconds left to the last epoch (early stopping may end the run sooner)."""
        return self._eta.remaining(self._epochs * self._steps - self._done, self._epochs - self._epochs_done)

    def step(self, loss: float) -> None:
        now = self._clock()
        self._eta.add_step(now - self._last)
        self._last, self._done = now, self._done + 1
        if self._progress is None:
            return
        self._progress.update(self._task, advance=1, info=f"loss {loss:.4f} {self._info}",
                              eta=fmt_eta(self.eta_seconds()))

    def epoch_end(self, record: dict, state) -> None:
        now = self._clock()
        self._eta.add_validation(now - self._last)  # validation, checkpoints and logging of this epoch
        self._last, self._epochs_done = now, state.epoch
        self._info = f"val MAE {record['val_mae']:.4g} (best {state.best_val_mae:.4g})"
        if self._progress is None:
            self.console.print(f"epoch {state.epoch}/{self._epochs} loss {record['train_loss']:.4f} "
                               f"{self._info} ETA {fmt_eta(self.eta_seconds())}", highlight=False)
            if state.stopped_early:
                self.console.print(f"Early stop: no validation improvement for {state.bad_epochs} epochs")
            return
        self._progress.update(self._task, epoch=min(state.epoch + 1, self._epochs), info=self._info,
                              eta=fmt_eta(self.eta_seconds()))
        if state.stopped_early:
            self._progress.update(self._task, total=self._progress.tasks[0].completed, eta="0:00")
            self.console.print(f"Early stop after epoch {state.epoch}: no validation improvement "
                               f"for {state.bad_epochs} epochs")

    def stop(self) -> None:
        if self._progress:
            self._progress.stop()
