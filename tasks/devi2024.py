"""The ``devi2024`` family: the exact data splits of Devi, Butler & Sai Gautam (npj Comput. Mater. 10, 300, 2024).

Source: ``raw/devi2024`` (the authors' repository, see ``../shared/data/README.md``). Every file is a gzip JSON
list of ``{"jid", "target", "atoms"}`` (multi-property copies add ``"prop_list"``; some of them wrap the target
in a one-element list, which is unwrapped). ``jid`` is the row index in the source dataset, so a jid seen in
two files of one property is one material: the record id is ``f"{code}-{jid}"`` and its target must agree in
every file (a disagreement raises). Structures are JARVIS atoms dicts (``fmt="jarvis"``).

Targets are the authors' min-max scaling to [-1, 1] of each whole source dataset; the scale is not stored
(checked where the source is here: dc = matminer ``poly_total`` and pz = ``eij_max``, jid = CSV row; the 2D
target is the JARVIS OptB88vdW band gap scaled over [0, 7.314] eV). MAE is in these scaled units, the units of
``../shared/reference/devi2024_test_metrics.csv``.

Groups of a task's ``TaskData``:

- ``test``: the fixed test file, in file order (gv 1,100, ph 127, dc 106, pz 94, ebg 248, 2D 110).
  ``multiprop/<code>/mp-<code>-multi-test`` is the same list (checked in the tests); it is read only to check
  that its targets agree.
- ``pool``: the union of every other file of the property (pairwise and multiprop subsets, the 1,000-point
  sets) in first-seen order, minus ``test``: what pre-training draws from.
- ``ft_{n}_t{t}``: the pairwise fine-tuning subset files (n in 10, 100, 200, 500, 800; trials 1-5), in file
  order; a run splits one 90/10 train/validation in that order (800 -> 720/80). The multiprop subset files are
  the same lists. BG has two files for trial 2, size 800: ``bg_trial2_800_new`` (identical to the multiprop
  copy, the authors' current version) is ``ft_800_t2``; the original ``bg_trial2_800`` is ``ft_800_t2_orig``.
- ``pt_1000`` (bg, fe): the given 1,000-point pre-training set ``<code>_1000_std_clean``.

BG and FE have no test set here (the paper's are 10 % of the full Materials Project sets, not copied). So that a
standalone run of ``devi2024-bg``/``-fe`` can still be scored, ``test`` is a deterministic 10 % of the pool,
hash-ranked as in ``RandomSplit`` (seed 42): bg 940, fe 874. This held-out set is *not* removed from the
pre-training pool (the pool is the whole union, 9,395 / 8,741, as in the paper where all of it was training
data); a run whose target is bg/fe removes these structures from every pre-training source through the
target-test exclusion of ``bench.pretrain``. BG and FE are not fine-tuning targets here: their subsets are kept
as groups, but ``--ft-size`` is refused (a subset would overlap the held-out set).

JARVIS 2D (out-of-domain target): ``jarvis_2d_std_90_10`` is the pool (993, split 90/10 in file order:
894/99) and ``jarvis_2d_std_10_test`` the test set (110); there are no fine-tuning subsets. The
``MP_cor_jarvis_2d_*`` files are the same lists in the multi-property format: same jids in the same order, same
atoms, same targets, plus a one-element ``prop_list`` (checked in the tests; no correction of any kind). They are
therefore not read.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.paths import data_file
from tasks.base import Task
from tasks.data import Record, TaskData
from tasks.splits import PAPER_FT_SIZES, PAPER_TRIALS, GroupSplit, _rank, _train_val

ROOT = "raw/devi2024"
UNITS = "min-max scaled to [-1, 1] (scale not stored)"
PAPER = ("Devi, R., Butler, K. T. & Sai Gautam, G. Optimal pre-train/fine-tune strategies for accurate material "
         "property predictions. npj Comput. Mater. 10, 300 (2024)")
HOLDOUT_FRACTION = 0.1  # bg/fe: share of the pool held out as a test set for standalone runs
HOLDOUT_SEED = 42

# file kinds: "test" (the fixed test set), "pool" (a file of the pool), "test_copy" (multiprop copy of the test)
_Entry = tuple[str, str, "str | None"]  # (path relative to the data dir, kind, group name or None)


def _layout(code: str) -> list[_Entry]:
    """Every file of one property, in reading order (pool order is first-seen order over these)."""
    if code == "2d":
        return [(f"{ROOT}/jarvis2d/jarvis_2d_std_90_10.json.gz", "pool", None),
                (f"{ROOT}/jarvis2d/jarvis_2d_std_10_test.json.gz", "test", None)]
    out: list[_Entry] = []
    for t in range(1, PAPER_TRIALS + 1):
        for n in PAPER_FT_SIZES:
            stem = f"{ROOT}/pairwise/{code}/{code}_trial{t}_{n}"
            if code == "bg" and (t, n) == (2, 800):
                out += [(f"{stem}.json.gz", "pool", f"ft_{n}_t{t}_orig"), (f"{stem}_new.json.gz", "pool", f"ft_{n}_t{t}")]
            else:
                out.append((f"{stem}.json.gz", "pool", f"ft_{n}_t{t}"))
    if code in ("bg", "fe"):
        out.append((f"{ROOT}/pairwise/{code}/{code}_1000_std_clean.json.gz", "pool", "pt_1000"))
    for t in range(1, PAPER_TRIALS + 1):
        for n in PAPER_FT_SIZES:
            out.append((f"{ROOT}/multiprop/{code}/mp_{code}_trial{t}_{n}.json.gz", "pool", None))
    if code not in ("bg", "fe"):
        out += [(f"{ROOT}/test/{code}_std_10_test.json.gz", "test", None),
                (f"{ROOT}/multiprop/{code}/mp-{code}-multi-test.json.gz", "test_copy", None)]
    return out


def read_rows(path: Path) -> list[dict]:
    """One file's rows as stored (uncached)."""
    with gzip.open(path, "rt") as fh:
        rows = json.load(fh)
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of entries, got {type(rows).__name__}")
    return rows


def _target(row: dict, where: str) -> float:
    value = row["target"]
    if isinstance(value, list):  # multiprop copies: [target]
        if len(value) != 1:
            raise ValueError(f"{where}: jid {row['jid']}: expected one target, got a list of {len(value)}")
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: jid {row['jid']}: target {value!r} is not a number") from None


def collect(code: str, data_dir: Path, layout: list[_Entry]) -> tuple[dict[str, Record], dict[str, list[str]]]:
    """Records (first-seen order) and groups of the files in ``layout``; repeated jids must agree."""
    records: dict[str, Record] = {}
    first_file: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    pool: dict[str, None] = {}
    test: list[str] | None = None
    for rel, kind, group in layout:
        ids = []
        for row in read_rows(data_file(rel, data_dir)):  # per file: the data folder, else the shipped copy
            rid = f"{code}-{row['jid']}"
            target = _target(row, rel)
            prev = records.get(rid)
            if prev is None:
                records[rid] = Record(id=rid, structure=row["atoms"], target=target, fmt="jarvis")
                first_file[rid] = rel
            elif not (prev.target == target or (math.isnan(prev.target) and math.isnan(target))):
                raise ValueError(f"devi2024 {code}: jid {row['jid']} has target {prev.target!r} in "
                                 f"{first_file[rid]} but {target!r} in {rel}; the same jid must be the same "
                                 f"material with the same label")
            elif prev.structure != row["atoms"]:
                raise ValueError(f"devi2024 {code}: jid {row['jid']} has different structures in "
                                 f"{first_file[rid]} and {rel}")
            ids.append(rid)
        if len(set(ids)) != len(ids):
            raise ValueError(f"{rel}: a jid appears twice in one file")
        if kind == "test":
            test = ids
        elif kind == "pool":
            pool.update(dict.fromkeys(ids))
        if group:
            groups[group] = ids
    held = set(test or ())
    groups["pool"] = [i for i in pool if i not in held]
    if test is not None:
        groups["test"] = test
    else:  # bg, fe: a deterministic held-out 10 % of the pool (kept in the pool, see the module docstring)
        ranked = _rank(groups["pool"], str(HOLDOUT_SEED))
        chosen = set(ranked[: round(HOLDOUT_FRACTION * len(ranked))])
        groups["test"] = [i for i in groups["pool"] if i in chosen]
    return records, groups


@functools.lru_cache(maxsize=None)
def _cached(code: str, data_dir: str) -> tuple[dict[str, Record], dict[str, tuple[str, ...]]]:
    records, groups = collect(code, Path(data_dir), _layout(code))
    return records, {k: tuple(v) for k, v in groups.items()}


def _code(task: Task) -> str:
    return task.name.removeprefix("devi2024-")


def load(task: Task, data_dir: Path) -> TaskData:
    """The task's records and groups (parsed once per process and data directory)."""
    records, groups = _cached(_code(task), str(Path(data_dir).resolve()))
    return TaskData(dict(records), {k: list(v) for k, v in groups.items()})


@dataclass(frozen=True)
class HeldOutPoolSplit(GroupSplit):
    """BG/FE: no fixed test set in the source. ``test`` is the loader's deterministic 10 % of the pool; a
    standalone run trains on the rest of the pool (90/10 in pool order). ``pool()`` stays the whole union: the
    held-out set is a stand-in for scoring standalone runs, not a protected test set for pre-training."""

    ft_sizes: tuple[int, ...] = ()
    trials: int = 1
    holdout_in_pool: bool = True  # read by tasks.pretraining

    def assign(self, data, ft_size=None, trial=1, fold=None):
        if fold is not None:
            raise ValueError("this task has a fixed test set, not cross-validation folds")
        if ft_size is not None:
            raise ValueError("BG and FE are pre-training sources here: the paper's test sets for them are not in "
                             "the local data, and their fine-tuning subsets overlap the held-out test set; drop "
                             "--ft-size")
        test = list(data.groups["test"])
        held = set(test)
        rest = [i for i in self.pool(data) if i not in held]
        return {**_train_val(rest, self.val_fraction), "test": test}

    def describe(self):
        return (f"no test set in the source: a hash-ranked {HOLDOUT_FRACTION:.0%} of the pool (seed {HOLDOUT_SEED}) "
                f"scores standalone runs, the rest 90/10 train/val in pool order; pre-training uses the whole pool")


@dataclass(frozen=True)
class PoolOnlySplit(GroupSplit):
    """JARVIS 2D: a fixed test file and a pool file. Without ``ft_size`` a run splits the pool 90/10 in file
    order (the paper's). The source has no fine-tuning subsets, so ``ft_size`` draws one from the pool for
    ``trial`` by hashing ids (the same on every machine; one trial's draws are nested, its 100 inside its 800),
    split 90/10 in draw order; the test file is never drawn from."""

    ft_sizes: tuple[int, ...] = (100, 800)
    trials: int = 3
    default_group: str | None = "pool"

    def assign(self, data, ft_size=None, trial=1, fold=None):
        if ft_size is None:
            return super().assign(data, None, trial, fold)
        if fold is not None:
            raise ValueError("this task has a fixed test set, not cross-validation folds")
        pool = list(data.groups[self.default_group])
        self._check(ft_size, trial, len(pool))
        chosen = _rank(pool, f"devi2024-2d:trial{trial}")[:ft_size]
        return {**_train_val(chosen, self.val_fraction), "test": list(data.groups.get("test", []))}

    def describe(self):
        return ("the source's own files: fixed test set; the pool split 90/10 train/val in file order; FT subsets "
                f"of {', '.join(map(str, self.ft_sizes))} × {self.trials} trials drawn from the pool by id hash")


@dataclass(frozen=True)
class _Property:
    code: str
    target: str
    description: str
    source: str


_SOURCES = {
    "gv": _Property("gv", "log10 G_VRH (scaled)", "log10 shear modulus (VRH)",
                    "matbench_log_gvrh: Dunn, A. et al. npj Comput. Mater. 6, 138 (2020); de Jong, M. et al. "
                    "Sci. Data 2, 150009 (2015)"),
    "ph": _Property("ph", "last phonon DOS peak (scaled)", "frequency of the last phonon DOS peak",
                    "matbench_phonons: Dunn, A. et al. npj Comput. Mater. 6, 138 (2020); Petretto, G. et al. "
                    "Sci. Data 5, 180065 (2018)"),
    "dc": _Property("dc", "dielectric constant poly_total (scaled)", "polycrystalline dielectric constant",
                    "matminer dielectric_constant: Petousis, I. et al. Sci. Data 4, 160134 (2017)"),
    "pz": _Property("pz", "piezoelectric modulus eij_max (scaled)", "maximum piezoelectric modulus",
                    "matminer piezoelectric_tensor: de Jong, M. et al. Sci. Data 2, 150053 (2015)"),
    "ebg": _Property("ebg", "experimental band gap (scaled)", "experimental band gap (MP-matched)",
                     "matminer expt_gap_kingsbury: Zhuo, Y. et al. J. Phys. Chem. Lett. 9, 1668 (2018); "
                     "Kingsbury, R. et al. Phys. Rev. Mater. 6, 013801 (2022)"),
    "bg": _Property("bg", "PBE band gap (scaled)", "PBE band gap",
                    "matbench_mp_gap: Dunn, A. et al. npj Comput. Mater. 6, 138 (2020); Jain, A. et al. "
                    "APL Mater. 1, 011002 (2013)"),
    "fe": _Property("fe", "formation energy per atom (scaled)", "formation energy per atom",
                    "matbench_mp_e_form: Dunn, A. et al. npj Comput. Mater. 6, 138 (2020); Jain, A. et al. "
                    "APL Mater. 1, 011002 (2013)"),
    "2d": _Property("2d", "2D band gap OptB88vdW (scaled)", "JARVIS-DFT 2D band gap (OptB88vdW), out of domain",
                    "JARVIS-DFT 2D: Choudhary, K. et al. npj Comput. Mater. 6, 173 (2020)"),
}

FT_TARGETS = ("gv", "ph", "dc", "pz", "ebg")
PT_ONLY = ("bg", "fe")


def _task(code: str) -> Task:
    p = _SOURCES[code]
    files = tuple(dict.fromkeys(rel for rel, _, _ in _layout(code)))
    if code in FT_TARGETS:
        role, split = ("pt_source", "ft_target"), GroupSplit(ft_sizes=PAPER_FT_SIZES, trials=PAPER_TRIALS)
        how = "the paper's fixed test set and fine-tuning subsets"
    elif code in PT_ONLY:
        role, split = ("pt_source",), HeldOutPoolSplit()
        how = "pre-training source; pools 941 (drawn), 1000 (given set) or all; 10 % held out for standalone runs"
    else:
        role, split = ("ood_target",), PoolOnlySplit()
        how = "out-of-domain target; the paper's 90/10 pool and fixed test set"
    return Task(
        name=f"devi2024-{code}",
        description=f"{p.description}, min-max scaled as in Devi et al. 2024 ({how})",
        target=p.target,
        units=UNITS,
        files=files,
        loader=load,
        citation=f"{PAPER}; data: {p.source}",
        role=role,
        main_metric="mae",
        split=split,
        cv=None,
        family="devi2024",
        pt_aliases=(code,) if "pt_source" in role else (),
        pt_exclude=tuple(f"devi2024-{c}" for c in (*FT_TARGETS, "2d")) if code not in PT_ONLY else (),
    )


TASKS = [_task(code) for code in (*FT_TARGETS, "2d", *PT_ONLY)]
