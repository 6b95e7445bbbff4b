"""Loading and validating result records (the ``result`` dict of ``bench/run.py``, one JSON file per run).

A record that cannot be read (bad JSON) or lacks what the leaderboard needs (required keys, wrong types,
predictions that do not line up, non-finite metrics, a content hash or run key that does not match) raises
:class:`RecordError`, whose message names every bad file and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.artifacts import INTEGRITY, ArtifactError, non_finite, verify_json

NUMBER = (int, float)
DEFAULT_BACKBONE = "alignn"
_NAMED_KEY = re.compile(r"__([0-9a-f]{12})\.json$")
_KIND_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


class RecordError(ValueError):
    """One or more result records are malformed; ``problems`` maps each file to what is wrong with it."""

    def __init__(self, problems: dict[Path, list[str]]):
        self.problems = problems
        lines = [f"{path}: {'; '.join(msgs)}" for path, msgs in problems.items()]
        super().__init__(f"malformed result record{'s' if len(problems) > 1 else ''}:\n  " + "\n  ".join(lines))


@dataclass
class Run:
    """One validated record, with the fields the leaderboard groups by."""

    path: Path
    record: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.record["config"]

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def strategy(self) -> str:
        return self.config["strategy"]

    @property
    def backbone(self) -> str:
        # records written before backbones were selectable carry none: they are all ALIGNN
        return self.config.get("backbone") or DEFAULT_BACKBONE

    @property
    def budget(self) -> str:
        return self.config["budget"]

    @property
    def ft_mode(self) -> str:
        return self.config.get("ft_mode") or "all"

    @property
    def pretrain(self) -> dict[str, Any]:
        return self.config.get("pretrain") or {}

    @property
    def ft_size(self) -> int | None:
        return self.config["split"].get("ft_size")

    @property
    def trial(self) -> int:
        split = self.config["split"]
        return split["fold"] if split.get("fold") is not None else (split.get("trial") or 1)

    @property
    def full_pool(self) -> bool:
        """Fine-tuned on the whole training pool: no FT subset or CV fold was drawn."""
        split = self.config["split"]
        return split.get("ft_size") is None and split.get("fold") is None

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def replicate(self) -> int:
        """What pairs two runs of one cell: the trial (its FT subset or CV fold); on the full pool, where every
        trial is the same set, the seed (numbered from 1, as trials are)."""
        return self.seed + 1 if self.full_pool else self.trial

    @property
    def main_metric(self) -> str:
        return self.record["task_info"]["main_metric"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.record["test_metrics"]

    @property
    def n_train(self) -> int | None:
        ids = (self.record.get("split_ids") or {}).get("train")
        return len(ids) if isinstance(ids, list) else None

    @property
    def predictions(self) -> tuple[list[float], list[float]] | None:
        tp = self.record.get("test_predictions")
        if not tp:
            return None
        return tp["y_true"], tp["y_pred"]


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
             bool: "a boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool)


def validate_record(record: Any) -> list[str]:
    """What is wrong with a parsed record (empty list: nothing)."""
    if not isinstance(record, dict):
        return [f"top level should be a JSON object, got {_type_name(record)}"]
    problems: list[str] = []

    def need(obj: dict, key: str, kinds: tuple | type, where: str, optional: bool = False) -> Any:
        name = f"{where}{key}"
        if key not in obj:
            if not optional:
                problems.append(f"missing key '{name}'")
            return None
        value = obj[key]
        if kinds is NUMBER:
            ok, want = _is_number(value), "a number"
        else:
            ks = kinds if isinstance(kinds, tuple) else (kinds,)
            ok = isinstance(value, ks) and not (isinstance(value, bool) and bool not in ks)
            want = " or ".join("null" if k is type(None) else _KIND_NAMES.get(k, k.__name__) for k in ks)
        if not ok:
            problems.append(f"'{name}' should be {want}, got {_type_name(value)}")
            return None
        return value

    need(record, "run_key", str, "")
    need(record, "wall_seconds", NUMBER, "")
    need(record, "git_commit", str, "")
    need(record, "hardware", dict, "")
    need(record, "versions", dict, "")
    config = need(record, "config", dict, "")
    if config is not None:
        for key in ("task", "strategy", "budget"):
            need(config, key, str, "config.")
        need(config, "backbone", str, "config.", optional=True)
        need(config, "seed", int, "config.")
        need(config, "ft_mode", str, "config.", optional=True)
        pretrain = need(config, "pretrain", (dict, type(None)), "config.", optional=True) or {}
        split = need(config, "split", dict, "config.")
        if split is not None:
            need(split, "ft_size", (int, type(None)), "config.split.")
            need(split, "trial", (int, type(None)), "config.split.", optional=True)
            need(split, "fold", (int, type(None)), "config.split.", optional=True)
            if isinstance(split.get("ft_size"), int) and split["ft_size"] <= 0:
                problems.append(f"'config.split.ft_size' should be positive, got {split['ft_size']}")
        if config.get("strategy") == "ptft":
            need(pretrain, "source", str, "config.pretrain.")
        elif config.get("strategy") == "mpt":
            sources = need(pretrain, "sources", list, "config.pretrain.")
            if sources is not None and not all(isinstance(s, str) for s in sources):
                problems.append("'config.pretrain.sources' should be a list of task names")
    info = need(record, "task_info", dict, "")
    metric = None
    if info is not None:
        metric = need(info, "main_metric", str, "task_info.")
        need(info, "target", str, "task_info.")
        need(info, "units", str, "task_info.")
    metrics = need(record, "test_metrics", dict, "")
    if metrics is not None:
        bad = [k for k, v in metrics.items() if not _is_number(v)]
        if bad:
            problems.append(f"'test_metrics' values should be numbers; not for {', '.join(map(repr, bad))}")
        nan = non_finite({k: v for k, v in metrics.items() if k not in bad})
        if nan:
            problems.append(f"'test_metrics' should be finite; not for "
                            f"{', '.join(f'{k!r} ({metrics[k]})' for k in nan)}: the run failed")
        if metric is not None and metric not in metrics:
            problems.append(f"'test_metrics' lacks the task's main metric {metric!r} "
                            f"(has {', '.join(sorted(metrics)) or 'nothing'})")
    back = need(record, "test_metrics_untransformed", dict, "", optional=True)  # a log10 task's, in its units
    if back is not None and not all(_is_number(v) and math.isfinite(v) for v in back.values()):
        problems.append("'test_metrics_untransformed' values should be finite numbers")
    preds = need(record, "test_predictions", (dict, type(None)), "", optional=True)
    if preds:
        y_true = need(preds, "y_true", list, "test_predictions.")
        y_pred = need(preds, "y_pred", list, "test_predictions.")
        if y_true is not None and y_pred is not None:
            if len(y_true) != len(y_pred):
                problems.append(f"'test_predictions' has {len(y_true)} y_true but {len(y_pred)} y_pred values")
            elif not all(_is_number(v) for v in y_true + y_pred):
                problems.append("'test_predictions' values should be numbers")
            elif not all(math.isfinite(v) for v in y_true + y_pred):
                problems.append("'test_predictions' values should be finite (NaN or infinity found)")
            test_ids = (record.get("split_ids") or {}).get("test") if isinstance(record.get("split_ids"), dict) \
                else None
            if isinstance(test_ids, list) and len(test_ids) != len(y_true):
                problems.append(f"'test_predictions' has {len(y_true)} values but split_ids.test has "
                                f"{len(test_ids)} ids")
    need(record, "split_ids", dict, "", optional=True)
    problems += _integrity_problems(record)
    return problems


def _integrity_problems(record: dict) -> list[str]:
    """The content hash and run key stamped by ``bench run`` (records exported before it have none)."""
    if INTEGRITY not in record:
        return []
    try:
        verify_json(Path("record"), record, {"run_key": record.get("run_key")})
    except ArtifactError as err:
        return [f"{err.reason}; export the record again from its run (bench leaderboard export) or delete it"]
    return []


def load_record(path: Path) -> Run:
    """Read and validate one record file; raises :class:`RecordError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError({path: [f"cannot be read: {err}"]}) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError({path: [f"not valid JSON: {err}"]}) from None
    problems = validate_record(record)
    named = _NAMED_KEY.search(path.name)  # bench.records.record_name ends with the run key
    if named and isinstance(record, dict) and named.group(1) != record.get("run_key"):
        problems.append(f"the file name says run {named.group(1)} but the record is run {record.get('run_key')!r}")
    if problems:
        raise RecordError({path: problems})
    return Run(path, record)


def load_records(results_dir: Path) -> list[Run]:
    """Every ``*.json`` record under ``results_dir`` (recursively), validated; duplicates of one run (same
    ``run_key``) are kept once. Raises :class:`RecordError` listing every malformed file."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder {results_dir} does not exist")
    runs, problems = {}, {}
    for path in sorted(results_dir.rglob("*.json")):
        try:
            run = load_record(path)
        except RecordError as err:
            problems.update(err.problems)
            continue
        key = run.record["run_key"]
        if key not in runs or (run.record.get("finished_at") or 0) > (runs[key].record.get("finished_at") or 0):
            runs[key] = run
    if problems:
        raise RecordError(problems)
    return sorted(runs.values(), key=lambda r: str(r.path))

