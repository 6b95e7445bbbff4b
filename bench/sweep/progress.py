"""Progress of a sweep: cells done / running / left, and an ETA from the wall times of the cells that finished."""

from __future__ import annotations


def fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def eta_seconds(walls: list[float], running: int, queued: int, slots: int) -> float | None:
    """Seconds until the grid is done, if the cells left take as long as those that ran: the queued cells and,
    on average, half of each running one, spread over the worker slots. None before any cell has finished."""
    if not walls:
        return None
    return sum(walls) / len(walls) * (queued + running / 2) / max(slots, 1)


class SweepProgress:
    def __init__(self, console, total: int):
        self.console, self.total = console, total
        self.done = 0
        self.walls: list[float] = []  # cells that trained here, not those found finished
        self.slots = 1

    def tag(self, index: int, name: str) -> str:
        return f"[{index}/{self.total}] {name}"

    def skipped(self, index: int, name: str, why: str) -> None:
        self.done += 1
        self.console.print(f"{self.tag(index, name)}: {why}, skipped", highlight=False)

    def started(self, index: int, name: str) -> None:
        self.console.print(f"[bold]{self.tag(index, name)}[/]", highlight=False)

    def finished(self, index: int, name: str, result: dict, running: int) -> None:
        self.done += 1
        if not result["already_finished"]:
            self.walls.append(result["wall_seconds"])
        outcome = (f"MAE {result['metrics']['mae']:.4g} in {fmt_seconds(result['wall_seconds'])}"
                   + (" (had finished before)" if result["already_finished"] else ""))
        self._line(self.tag(index, name) + ": " + outcome, running)

    def failed(self, index: int, name: str, error: str, running: int) -> None:
        self.done += 1
        from rich.markup import escape

        self._line(f"[red]{self.tag(index, name)}: failed[/] ({escape(error)})", running)

    def _line(self, head: str, running: int) -> None:
        left = self.total - self.done - running
        eta = eta_seconds(self.walls, running, left, self.slots)
        self.console.print(f"{head} · done {self.done}/{self.total} · running {running} · left {left} · ETA "
                           + (fmt_seconds(eta) if eta is not None else "—"), highlight=False)
