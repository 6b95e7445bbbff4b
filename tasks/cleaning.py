"""Cleaning shared by task loaders: validate structures and targets, find duplicate structures, find leakage.

Everything removed is reported, never silent: :func:`clean` returns ``TaskData.dropped`` as ``(id, reason)``
where ``reason`` is ``"<category>: <detail>"`` (task cards group by the category).

Duplicates are found by structure, not by row. Two structures are the same material when

1. their compositions agree (element fractions, oxidation states ignored; partial occupancies included),
2. their spglib space groups agree (``symprec=0.1``; sites typed by their element/occupancy content),
3. their volumes per atom agree within 10 % (a tolerance, not a rounded bin: bins split near-equal volumes
   that fall either side of an edge; per atom = per unit of occupancy, so split sites do not count twice), and
4. pymatgen's ``StructureMatcher`` (ltol 0.2, stol 0.3, angle_tol 5°, primitive cells, volumes scaled,
   element comparator) fits them.

Disordered structures: the matcher only fits two partially occupied structures when their site
occupancies agree, so the same material refined with another disorder model (split sites, other occupancies)
never fits. Two *disordered* structures are therefore also called the same when 1-2 hold and their volumes
per atom agree within 5 % (``DISORDERED_VOLUME_TOLERANCE``); the dropped reason says which rule matched.

Steps 1-3 form a cheap bucket key; the matcher runs only inside a bucket, and the space group is computed
only for structures whose composition occurs more than once, so thousands of structures take seconds.
A supercell of a structure is the same material: the matcher reduces both to primitive cells, the
composition, space group and volume per site are unchanged, so it is reported as a duplicate.
Translated, rotated and site-permuted copies match as well.

Space groups are cached by structure content (lattice, species, coordinates), so calling
:func:`matching_ids` repeatedly with the same reference set (a target's test set) computes them once.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.data import Record, TaskData

if TYPE_CHECKING:
    from pymatgen.core import Structure

SYMPREC = 0.1
VOLUME_TOLERANCE = 0.10  # relative difference of volume per atom still called "the same structure"
DISORDERED_VOLUME_TOLERANCE = 0.05  # the same for two disordered structures the matcher cannot fit
MATCHER_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
# Duplicates whose targets differ by more than this fraction of the task's target standard deviation are
# flagged "conflicting target" in the dropped reason (the first entry is still the one kept).
CONFLICT_FRACTION = 0.25
JARVIS_MISSING = -99999
_MISSING_TEXT = {"", "na", "nan", "none", "null", "n/a", "-99999"}

# ---------------------------------------------------------------------------------------------------------------
# fingerprints


def content_key(structure: Structure) -> str:
    """Hash of a structure's exact content (lattice, site species with occupancies, wrapped fractional
    coordinates), rounded to 1e-5: equal keys mean identical structures."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.round(structure.lattice.matrix, 5).tobytes())
    h.update("|".join(site.species_string for site in structure).encode())
    frac = np.mod(np.round(structure.frac_coords, 5), 1.0)
    h.update(np.round(frac, 5).tobytes())
    return h.hexdigest()


def composition_key(structure: Structure) -> str:
    """Element fractions (4 decimals), oxidation states ignored: equal for a structure and its supercells."""
    comp = structure.composition.element_composition
    total = comp.num_atoms
    return " ".join(f"{el.symbol}{amount / total:.4f}"
                    for el, amount in sorted(comp.items(), key=lambda kv: kv[0].symbol))


def _site_type(site) -> tuple:
    return tuple(sorted((el.symbol, round(float(occ), 3)) for el, occ in site.species.element_composition.items()))


class _BoundedCache(OrderedDict):
    def __init__(self, maxsize: int):
        super().__init__()
        self.maxsize = maxsize

    def put(self, key, value):
        self[key] = value
        if len(self) > self.maxsize:
            self.popitem(last=False)
        return value


_SPACE_GROUPS = _BoundedCache(500_000)


def space_group(structure: Structure, symprec: float = SYMPREC, key: str | None = None) -> int:
    """spglib space-group number (0 if spglib finds none). Disordered sites are typed by their content, so
    a disordered structure gets the symmetry of its average structure. Cached by content."""
    cache_key = (key or content_key(structure), symprec)
    if cache_key in _SPACE_GROUPS:
        _SPACE_GROUPS.move_to_end(cache_key)
        return _SPACE_GROUPS[cache_key]
    os.environ.setdefault("SPGLIB_WARNING", "OFF")  # spglib prints C-level warnings to stderr otherwise
    import spglib

    types: dict[tuple, int] = {}
    numbers = [types.setdefault(_site_type(site), len(types) + 1) for site in structure]
    cell = (np.asarray(structure.lattice.matrix), np.asarray(structure.frac_coords), numbers)
    try:
        dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception:  # spglib >= 2.5 may raise instead of returning None
        dataset = None
    number = int(getattr(dataset, "number", 0) or 0) if dataset is not None else 0
    return _SPACE_GROUPS.put(cache_key, number)


def fingerprint(structure: Structure, symprec: float = SYMPREC) -> tuple[str, int, float]:
    """(reduced formula, space-group number, volume per atom rounded to 0.1 Å³): a human-readable summary.
    Matching uses the bucket key and tolerances described in the module docstring, not this rounded value."""
    return (structure.composition.reduced_formula, space_group(structure, symprec),
            round(structure.volume / structure.composition.num_atoms, 1))


@functools.lru_cache(maxsize=1)
def _matcher():
    from pymatgen.analysis.structure_matcher import ElementComparator, StructureMatcher

    return StructureMatcher(**MATCHER_TOLERANCES, primitive_cell=True, scale=True, attempt_supercell=False,
                            comparator=ElementComparator())


class _Entry:
    """A structure with lazily computed, memoised keys."""

    __slots__ = ("structure", "_key", "_sg", "volume", "ordered")

    def __init__(self, structure):
        self.structure = structure
        self._key = None
        self._sg = None
        self.volume = structure.volume / structure.composition.num_atoms
        self.ordered = structure.is_ordered

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = content_key(self.structure)
        return self._key

    @property
    def sg(self) -> int:
        if self._sg is None:
            self._sg = space_group(self.structure, SYMPREC, self.key)
        return self._sg


def _same(a: _Entry, b: _Entry) -> str | None:
    """How ``a`` and ``b`` (same composition) were found to be the same structure, or None if they differ."""
    ratio = abs(a.volume / b.volume - 1.0)
    if ratio > VOLUME_TOLERANCE or a.sg != b.sg:
        return None
    if a.key == b.key:
        return "identical"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _matcher().fit(a.structure, b.structure):
                return "matcher"
    except Exception:  # the matcher fails on a few exotic cells: then only the rule below can apply
        pass
    if not a.ordered and not b.ordered and ratio <= DISORDERED_VOLUME_TOLERANCE:
        return "disordered"
    return None


HOW = {"identical": "identical structure", "matcher": "StructureMatcher fit",
       "disordered": "both disordered: same composition and space group, volume/atom within "
                     f"{DISORDERED_VOLUME_TOLERANCE:.0%}"}


def _duplicates(structures: Sequence[Structure]) -> list[tuple[int, int, str]]:
    by_comp: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(structures):
        by_comp[composition_key(s)].append(i)
    found: list[tuple[int, int, str]] = []
    for members in by_comp.values():
        if len(members) < 2:
            continue
        entries = {i: _Entry(structures[i]) for i in members}
        by_sg: dict[int, list[int]] = defaultdict(list)
        for i in members:
            by_sg[entries[i].sg].append(i)
        for group in by_sg.values():
            kept: list[int] = []
            for i in group:
                for k in kept:
                    how = _same(entries[k], entries[i])
                    if how:
                        found.append((k, i, how))
                        break
                else:
                    kept.append(i)
    return sorted(found, key=lambda p: p[1])


def find_duplicates(structures: Sequence[Structure]) -> list[tuple[int, int]]:
    """``(keep_index, drop_index)`` for every structure that repeats an earlier one (see the module docstring
    for what "the same" means). ``keep_index`` is always the first occurrence, which is itself never dropped;
    pairs are sorted by ``drop_index``."""
    return [(keep, drop) for keep, drop, _ in _duplicates(structures)]


def matches(candidates: Mapping[Hashable, Structure], reference: Mapping[Hashable, Structure]) -> dict:
    """``{candidate id: id of the first reference structure it matches}`` for candidates matching any."""
    ref_by_comp: dict[str, list[tuple[Hashable, _Entry]]] = defaultdict(list)
    for rid, s in reference.items():
        ref_by_comp[composition_key(s)].append((rid, _Entry(s)))
    found = {}
    for cid, s in candidates.items():
        refs = ref_by_comp.get(composition_key(s))
        if not refs:
            continue
        entry = _Entry(s)
        for rid, ref in refs:
            if _same(entry, ref):
                found[cid] = rid
                break
    return found


def match_pairs(candidates: Mapping[Hashable, Structure], reference: Mapping[Hashable, Structure]) -> list[tuple]:
    """Every ``(candidate id, reference id, how)`` of a candidate and a reference structure that are the same
    (one candidate may match several references), in candidate order."""
    ref_by_comp: dict[str, list[tuple[Hashable, _Entry]]] = defaultdict(list)
    for rid, s in reference.items():
        ref_by_comp[composition_key(s)].append((rid, _Entry(s)))
    found = []
    for cid, s in candidates.items():
        refs = ref_by_comp.get(composition_key(s))
        if refs:
            entry = _Entry(s)
            found += [(cid, rid, how) for rid, ref in refs if (how := _same(entry, ref))]
    return found


def matching_ids(candidates: Mapping[Hashable, Structure], reference: Mapping[Hashable, Structure]) -> set:
    """Ids of the candidate structures that match any reference structure (leakage: a pre-training source's
    structures that are also in the target's test set)."""
    return set(matches(candidates, reference))


# ---------------------------------------------------------------------------------------------------------------
# targets and records


def parse_target(value: Any) -> tuple[float | None, str | None]:
    """(value, None) for a usable number, else (None, "<category>: <detail>")."""
    if value is None:
        return None, "missing target: empty"
    if isinstance(value, (bytes, str)):
        text = value.decode() if isinstance(value, bytes) else value
        text = text.strip()
        if text.lower() in _MISSING_TEXT:
            return None, f"missing target: {text!r}"
        if text[:1] in "<>≤≥":
            return None, f"censored target: reported only as a bound ({text!r})"
        try:
            value = float(text)
        except ValueError:
            return None, f"missing target: not a number ({text[:40]!r})"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"missing target: not a number ({str(value)[:40]!r})"
    if number == JARVIS_MISSING:
        return None, f"missing target: JARVIS missing value {JARVIS_MISSING}"
    if math.isnan(number):
        return None, "missing target: NaN"
    if math.isinf(number):
        return None, f"non-finite target: {number}"
    return number, None


TRANSFORMS = {None: lambda v: v, "log10": math.log10}


@dataclass
class SourceRows:
    """What a task's reader returns: raw rows ``(id, structure, target, fmt)`` in source order, entries the
    reader itself had to drop (e.g. a row without a CIF), named id groups (e.g. which file a row came from)
    and counts worth stating on the card."""

    rows: list[tuple[str, Any, Any, str | None]]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Cleaned:
    data: TaskData
    structures: dict[str, Structure]  # parsed, validated structure of every kept record


def clean(source: SourceRows, name: str, transform: str | None = None, positive: bool = False,
          dedup: bool = True, conflict_fraction: float = CONFLICT_FRACTION) -> Cleaned:
    """Validate targets and structures, apply ``transform``, remove duplicate structures; report all removals.

    ``positive``: values <= 0 are dropped (needed before log10). Invalid structures are found with
    ``bench.structures.parse_structure``; the reason is its ``StructureError`` message.
    """
    from bench.structures import StructureError, parse_structure

    if transform not in TRANSFORMS:
        raise ValueError(f"unknown target transform {transform!r}")
    dropped = list(source.dropped)
    seen = {i for i, _ in dropped}
    kept: list[tuple[str, Any, float, str | None]] = []
    structures: dict[str, Structure] = {}
    for rid, raw, target, fmt in source.rows:
        rid = str(rid)
        if rid in structures or rid in seen:
            dropped.append((rid, "duplicate id: the id occurs earlier in the source"))
            continue
        seen.add(rid)
        value, reason = parse_target(target)
        if reason is None and positive and value <= 0:
            reason = f"non-positive target: {value:g} (needs > 0 for {transform or 'this task'})"
        if reason is not None:
            dropped.append((rid, reason))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = parse_structure(raw, fmt, source=f"{name}, entry {rid}")
        except StructureError as err:
            if err.problem.startswith("missing structure"):
                reason = "missing structure: " + err.problem[len("missing structure"):].strip(" ()")
            else:
                reason = f"invalid structure: {err.problem}"
            dropped.append((rid, reason))
            continue
        structures[rid] = structure
        kept.append((rid, raw, TRANSFORMS[transform](value), fmt))

    drop: set[str] = set()
    if dedup and len(kept) > 1:
        ids = [r[0] for r in kept]
        values = np.array([r[2] for r in kept])
        std = float(np.std(values))
        for a, b, how in _duplicates([structures[i] for i in ids]):
            ta, tb = values[a], values[b]
            diff = abs(tb - ta)
            if std > 0 and diff > conflict_fraction * std:
                reason = (f"duplicate structure, conflicting target: same structure as {ids[a]} ({HOW[how]}), "
                          f"target {tb:.4g} vs kept {ta:.4g} (|diff| {diff:.3g} > {conflict_fraction:g} x std "
                          f"{std:.3g}); the first entry is kept")
            else:
                reason = (f"duplicate structure: same structure as {ids[a]} ({HOW[how]}; target {tb:.4g}, "
                          f"kept {ta:.4g})")
            dropped.append((ids[b], reason))
            drop.add(ids[b])
    records = {rid: Record(rid, raw, value, fmt) for rid, raw, value, fmt in kept if rid not in drop}
    structures = {rid: s for rid, s in structures.items() if rid in records}
    groups = {g: [i for i in members if i in records] for g, members in source.groups.items()}
    return Cleaned(TaskData(records, groups=groups, dropped=dropped), structures)


def category(reason: str) -> str:
    """The part of a dropped reason before its first colon."""
    return reason.split(":", 1)[0].strip()


def audit(data: TaskData, name: str) -> list[tuple[str, str]]:
    """What :func:`clean` would remove from ``data`` (for tasks whose loader does not clean): invalid
    structures, non-finite targets and duplicate structures, as ``(id, reason)``; nothing is removed."""
    rows = SourceRows([(r.id, r.structure, r.target, r.fmt) for r in data.records.values()])
    return clean(rows, name).data.dropped


def copy_data(data: TaskData) -> TaskData:
    """A copy a caller may modify without changing a cached load."""
    return TaskData(dict(data.records), {k: list(v) for k, v in data.groups.items()}, list(data.dropped))
