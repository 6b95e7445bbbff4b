"""Task registry: every module in this package that defines ``TASK`` (or ``TASKS``) contributes tasks.

Adding a task means adding one small file here. Modules are light: loaders import pandas and pymatgen
only when they run.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from tasks.base import Task
from tasks.data import Record, TaskData
from tasks.splits import GroupSplit, KFoldSplit, RandomSplit, SplitProtocol

__all__ = ["GroupSplit", "KFoldSplit", "RandomSplit", "Record", "SplitProtocol", "Task", "TaskData", "all_tasks",
           "get_task"]

_NOT_TASK_MODULES = {"base", "data", "loaders", "splits"}


@functools.lru_cache(maxsize=1)
def all_tasks() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _NOT_TASK_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        tasks = list(getattr(module, "TASKS", [])) + ([module.TASK] if hasattr(module, "TASK") else [])
        for task in tasks:
            if task.name in found:
                raise ValueError(f"task name {task.name!r} is defined twice (second in tasks/{info.name}.py)")
            found[task.name] = task
    return found


def get_task(name: str) -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(tasks))}")
    return tasks[name]
