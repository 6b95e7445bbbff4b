"""Read crystal structures from every format the datasets use (CIF, POSCAR, pymatgen dict, JARVIS atoms dict)
and reject structures a graph model cannot use, with errors that name the source and the problem."""

from __future__ import annotations

import ast
import gzip
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.targets import TargetError, check_targets  # re-exported: targets were checked here first

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "StructureError",
    "TargetError",
    "check_targets",
    "parse_structure",
    "read_structure_file",
    "validate_structure",
]

FORMATS = ("cif", "poscar", "pymatgen", "jarvis")
MAX_Z = 100  # the CGCNN atom-feature table stops at Fm
JARVIS_MISSING = -99999
_MISSING_TEXT = {"", "na", "nan", "none", "null", "-99999"}


class StructureError(ValueError):
    """A structure that cannot be used. str(err) always names the source (file and/or entry id) and what is wrong."""

    def __init__(self, source: str, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self):  # keep picklable across worker processes despite the two-argument __init__
        return (type(self), (self.source, self.problem))


# --------------------------------------------------------------------------------------------------------------
# parsing


def parse_structure(obj, fmt: str | None = None, source: str = "<input>") -> Structure:
    """Parse `obj` (Structure, CIF/POSCAR/dict text, or dict) into a validated pymatgen Structure.

    fmt: "cif", "poscar", "pymatgen", "jarvis" or None (auto-detect). Raises StructureError naming `source`.
    """
    from pymatgen.core import IStructure, Structure

    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown structure format {fmt!r}; expected one of {FORMATS} or None")

    if isinstance(obj, IStructure):
        structure = obj if isinstance(obj, Structure) else Structure.from_sites(obj)
        return validate_structure(structure, source)

    if isinstance(obj, (bytes, bytearray)):
        try:
            obj = obj.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StructureError(source, f"structure text is not UTF-8: {exc}") from None

    if isinstance(obj, str):
        text = obj
        if text.strip().lower() in _MISSING_TEXT:
            raise StructureError(source, f"missing structure (got {text.strip()!r})")
        kind = fmt or _detect_text_format(text)
        if kind == "cif":
            structure = _parse_cif(text, source)
        elif kind == "poscar":
            structure = _parse_poscar(text, source)
        else:  # "dict", "pymatgen", "jarvis"
            structure = _from_dict(_parse_dict_text(text, source), None if kind == "dict" else kind, source)
    elif isinstance(obj, dict):
        if fmt in ("cif", "poscar"):
            raise StructureError(source, f"expected {fmt.upper()} text, got a dict")
        structure = _from_dict(obj, fmt, source)
    elif obj is None or (isinstance(obj, float) and math.isnan(obj)):
        raise StructureError(source, f"missing structure (got {obj!r})")
    else:
        raise StructureError(source, f"unsupported structure input of type {type(obj).__name__}")
    return validate_structure(structure, source)


def read_structure_file(path) -> Structure:
    """Read and validate a structure file: .cif, POSCAR/CONTCAR/*.vasp/*.poscar, or .json (pymatgen or JARVIS
    dict); a trailing .gz is allowed. Other names are detected from their content. Errors name the file path."""
    path = Path(path)
    source = str(path)
    name = path.name.lower()
    opener = gzip.open if name.endswith(".gz") else open
    stem = name[:-3] if name.endswith(".gz") else name
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise StructureError(source, f"cannot read file: {_short(exc)}") from None

    if stem.endswith(".cif"):
        fmt = "cif"
    elif stem.endswith((".vasp", ".poscar")) or stem.startswith(("poscar", "contcar")):
        fmt = "poscar"
    elif stem.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StructureError(source, f"invalid JSON: {_short(exc)}") from None
        if not isinstance(data, dict):
            raise StructureError(source, f"expected a JSON object holding one structure, got {type(data).__name__}")
        return parse_structure(data, None, source)
    else:
        fmt = None
    return parse_structure(text, fmt, source)


def _detect_text_format(text: str) -> str:
    first = ""
    for line in text.lstrip().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            first = stripped
            break
    if first.startswith("{"):
        return "dict"
    if first.startswith("data_") or "_cell_length_a" in text:
        return "cif"
    return "poscar"


def _parse_cif(text: str, source: str) -> Structure:
    from pymatgen.io.cif import CifParser

    from bench.structure_checks import cif_failure, cif_mismatch, plain_reason, scan_cif

    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    layout = scan_cif(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # primitive=False keeps the given cell and sites: the graph must describe exactly this structure.
            structures = CifParser.from_str(text).parse_structures(primitive=False)
        except Exception as exc:  # pymatgen raises many types (ValueError, KeyError, IndexError, ...)
            structures, failure = [], exc
        else:
            failure = "no structure found"
    if not structures:
        # pymatgen's final "no structures" error hides the cause, which it emitted as a warning just before.
        cause = next((w.message for w in caught if str(w.message).startswith("No structure parsed")), failure)
        reason = cif_failure(layout) or plain_reason(cause)
        raise StructureError(source, f"unparseable CIF: {_clip(reason)}")
    problem = cif_mismatch(structures[0], layout)
    if problem:
        raise StructureError(source, f"inconsistent CIF: {problem}")
    return structures[0]


def _parse_poscar(text: str, source: str) -> Structure:
    from pymatgen.io.vasp import Poscar

    from bench.structure_checks import plain_reason, poscar_problem

    # Some datasets store POSCARs with literal "\n" sequences; a POSCAR never contains a real backslash.
    text = text.replace("\\n", "\n")
    problem = poscar_problem(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structure = Poscar.from_str(text, read_velocities=False).structure
        except Exception as exc:
            raise StructureError(source, f"unparseable POSCAR: {_clip(problem or plain_reason(exc))}") from None
    if problem:
        raise StructureError(source, f"inconsistent POSCAR: {problem}")
    return structure


def _parse_dict_text(text: str, source: str) -> dict:
    # literal_eval only builds literals, so a hostile string cannot run code (never use eval here).
    try:
        data = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        if "malformed node" in str(exc):
            reason = "it contains an expression that is not a literal (never evaluated)"
        else:
            reason = _short(exc)
        try:
            data = json.loads(text)  # JSON spellings literal_eval rejects: true/false/null/NaN
        except (ValueError, RecursionError):
            raise StructureError(source, f"unparseable structure dict text: {reason}") from None
    if not isinstance(data, dict):
        raise StructureError(source, f"structure text is a {type(data).__name__}, not a dict")
    return data


def _from_dict(d: dict, fmt: str | None, source: str) -> Structure:
    if fmt is None:
        if "lattice_mat" in d:
            fmt = "jarvis"
        elif "lattice" in d and "sites" in d:
            fmt = "pymatgen"
        else:
            keys = ", ".join(map(str, list(d)[:8]))
            raise StructureError(source, f"dict is neither a pymatgen Structure nor a JARVIS atoms dict (keys: {keys})")
    return _from_jarvis(d, source) if fmt == "jarvis" else _from_pymatgen(d, source)


def _from_pymatgen(d: dict, source: str) -> Structure:
    from pymatgen.core import Structure

    from bench.structure_checks import plain_reason

    if "lattice" not in d or "sites" not in d:
        raise StructureError(source, "pymatgen Structure dict lacks 'lattice' or 'sites'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Structure.from_dict(d)
        except Exception as exc:
            raise StructureError(source, f"invalid pymatgen Structure dict: {_clip(plain_reason(exc))}") from None


def _from_jarvis(d: dict, source: str) -> Structure:
    from pymatgen.core import Element, Lattice, Structure

    from bench.structure_checks import plain_reason

    for key in ("lattice_mat", "coords", "elements"):
        if key not in d:
            raise StructureError(source, f"JARVIS atoms dict lacks {key!r}")
    lattice = _numeric_array(d["lattice_mat"], "lattice_mat", source)
    if lattice.shape != (3, 3):
        raise StructureError(source, f"lattice_mat has shape {lattice.shape}, expected (3, 3)")
    _check_lattice(lattice, source)
    elements = d["elements"]
    if isinstance(elements, str) or not isinstance(elements, (Sequence, np.ndarray)):
        raise StructureError(source, f"elements is {elements!r}, expected a list of element symbols")
    coords = _numeric_array(d["coords"], "coords", source)
    if len(elements) == 0:
        raise StructureError(source, "structure has no sites")
    if coords.shape != (len(elements), 3):
        raise StructureError(source, f"coords has shape {coords.shape} for {len(elements)} elements, expected ({len(elements)}, 3)")
    symbols = []
    for i, el in enumerate(elements):
        sym = el.strip() if isinstance(el, str) else el
        if not isinstance(sym, str) or not Element.is_valid_symbol(sym):
            what = "missing element" if str(sym).strip().lower() in _MISSING_TEXT else "unknown element"
            raise StructureError(source, f"{what} {el!r} at site {i}")
        symbols.append(sym)
    cartesian = _as_bool(d.get("cartesian", False), source)
    try:
        return Structure(Lattice(lattice), symbols, coords, coords_are_cartesian=cartesian)
    except Exception as exc:
        raise StructureError(source, f"invalid JARVIS atoms dict: {_clip(plain_reason(exc))}") from None


def _numeric_array(value, name: str, source: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise StructureError(source, f"{name} has missing or non-numeric values: {_clip(repr(value))}") from None
    if np.any(arr == JARVIS_MISSING):
        raise StructureError(source, f"{name} has missing values ({JARVIS_MISSING})")
    if not np.all(np.isfinite(arr)):
        raise StructureError(source, f"{name} has non-finite values")
    return arr


def _as_bool(value, source: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise StructureError(source, f"'cartesian' is {value!r}, expected true or false")


# --------------------------------------------------------------------------------------------------------------
# validation


def validate_structure(structure, source: str = "<input>", min_distance: float = 0.5) -> Structure:
    """Return `structure` unchanged if usable, else raise StructureError.

    Rejects: no sites; non-finite or degenerate lattice; non-finite coordinates; dummy/vacancy species or
    elements with Z > 100; two sites (periodic images included) closer than `min_distance` Å. Partially
    occupied sites are allowed, and two sites that are *both* partially occupied may be close: in disordered
    structures those are alternative (split) positions, not a clash.
    """
    from pymatgen.core import IStructure
    from pymatgen.core.periodic_table import DummySpecies

    if not isinstance(structure, IStructure):
        raise StructureError(source, f"not a pymatgen Structure (got {type(structure).__name__})")
    if len(structure) == 0:
        raise StructureError(source, "structure has no sites")
    _check_lattice(structure.lattice.matrix, source)
    if not np.all(np.isfinite(structure.frac_coords)):
        bad = int(np.flatnonzero(~np.isfinite(structure.frac_coords).all(axis=1))[0])
        raise StructureError(source, f"site {bad} has non-finite coordinates")

    for sp in structure.types_of_species:
        if isinstance(sp, DummySpecies):
            problem = f"unknown element or dummy/vacancy species {sp.symbol!r}"
        else:
            el = getattr(sp, "element", sp)
            if el.Z <= MAX_Z:
                continue
            problem = f"element {el.symbol} (Z={el.Z}) has Z > {MAX_Z} (no CGCNN atom features)"
        site = next(i for i, s in enumerate(structure) if sp in s.species)
        raise StructureError(source, f"{problem} at site {site}")

    _check_min_distance(structure, source, min_distance)
    return structure


def _check_lattice(matrix, source: str) -> None:
    m = np.asarray(matrix, dtype=float)
    if not np.all(np.isfinite(m)):
        raise StructureError(source, "lattice has non-finite values")
    volume = abs(float(np.linalg.det(m)))
    lengths = float(np.prod(np.linalg.norm(m, axis=1)))
    # Relative threshold: float noise makes coplanar vectors give ~1e-16, not exactly 0.
    if not volume > 1e-8 * lengths:
        raise StructureError(source, f"cell volume is {volume:.3g} Å³ (lattice vectors are zero or coplanar)")


def _check_min_distance(structure, source: str, min_distance: float) -> None:
    # Not pymatgen's get_neighbor_list: its grid over the cell asks for 27 GB for a 1000 Å cell (neighbors.py).
    from bench.graphs.neighbors import NeighborSearchError, periodic_neighbors

    try:
        centers, neighbors, images, distances = periodic_neighbors(structure, min_distance)
    except NeighborSearchError as err:
        raise StructureError(source, str(err)) from None
    if len(distances) == 0:
        return
    if not structure.is_ordered:
        occu = np.array([site.species.num_atoms for site in structure])
        partial = occu < 1.0 - 1e-6
        keep = ~(partial[centers] & partial[neighbors])
        centers, neighbors, images, distances = centers[keep], neighbors[keep], images[keep], distances[keep]
        if len(distances) == 0:
            return
    k = int(np.argmin(distances))
    i, j, d = int(centers[k]), int(neighbors[k]), float(distances[k])
    image = [int(round(x)) for x in images[k]]
    si, sj = structure[i].species_string, structure[j].species_string
    if i == j:
        pair = f"site {i} ({si}) is {d:.3f} Å from its own periodic image {image}"
    else:
        where = f", periodic image {image}" if any(image) else ""
        pair = f"sites {i} ({si}) and {j} ({sj}{where}) are {d:.3f} Å apart"
    n_pairs = max(1, len(distances) // 2)  # each pair is listed from both ends
    raise StructureError(source, f"atoms too close: {pair} (minimum {min_distance} Å; {n_pairs} close pair(s))")


# --------------------------------------------------------------------------------------------------------------


def _short(exc) -> str:
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
    return _clip(text) if text else type(exc).__name__


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
