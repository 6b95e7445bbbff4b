"""A rich progress bar for training: epoch, loss, validation MAE, ETA."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainingProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._progress = None
        self._task = None
        self._info = ""

    def start(self, epochs: int, steps_per_epoch: int, state, resumed: bool) -> None:
        self._epochs, self._steps = epochs, steps_per_epoch
        self._t0 = time.monotonic()
        self._first_epoch = state.epoch
        if resumed:
            self.console.print(f"[yellow]Resuming from checkpoint: epoch {state.epoch}/{epochs}, "
                               f"step {state.step_in_epoch}/{steps_per_epoch}[/]")
        if not self.console.is_terminal:
            return  # logs and CI: one line per epoch instead of a live bar
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console, transient=False)
        self._progress.start()
        done = state.epoch * steps_per_epoch + state.step_in_epoch
        self._task = self._progress.add_task("train", total=epochs * steps_per_epoch, completed=done,
                                             epoch=state.epoch + 1, epochs=epochs, info="")

    def step(self, loss: float) -> None:
        if self._progress is None:
            return
        self._progress.update(self._task, advance=1, info=f"loss {loss:.4f} {self._info}")

    def epoch_end(self, record: dict, state) -> None:
        self._info = f"val MAE {record['val_mae']:.4g} (best {state.best_val_mae:.4g})"
        if self._progress is None:
            done = state.epoch - self._first_epoch
            eta = (time.monotonic() - self._t0) / max(done, 1) * (self._epochs - state.epoch)
            self.console.print(f"epoch {state.epoch}/{self._epochs} loss {record['train_loss']:.4f} "
                               f"{self._info} ETA {eta:.0f} s", highlight=False)
            if state.stopped_early:
                self.console.print(f"Early stop: no validation improvement for {state.bad_epochs} epochs")
            return
        self._progress.update(self._task, epoch=min(state.epoch + 1, self._epochs), info=self._info)
        if state.stopped_early:
            self._progress.update(self._task, total=self._progress.tasks[0].completed)
            self.console.print(f"Early stop after epoch {state.epoch}: no validation improvement "
                               f"for {state.bad_epochs} epochs")

    def stop(self) -> None:
        if self._progress:
            self._progress.stop()
