"""Task cards: what a user needs to know before trusting a number on a task."""

from __future__ import annotations

from pathlib import Path

from tasks.base import Task


def render_card(task: Task, data_dir: Path) -> str:
    data = task.load(data_dir)
    lines = [f"# {task.name}", task.description, "", f"source: {task.citation}",
             f"target: {task.target} ({task.units})", f"records: {len(data)}",
             f"split: {task.split.describe()}"]
    return "\n".join(lines)
