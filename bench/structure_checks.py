"""What CIF and POSCAR text declares, checked against what it holds, and plain statements for the low-level
errors pymatgen raises on bad text.

pymatgen accepts a CIF cut at a row boundary of its atom loop (987 of 2,000 atoms parse as a structure) and a
POSCAR whose counts cover fewer atoms than its coordinate lines (the rest are ignored); on other damage it
raises "list index out of range" or "integer modulo by zero". The scans here read the few things the text
declares (cell, atom loop, formula and Z; species counts and coordinate lines) without pymatgen, so a parse
that succeeded can be cross-checked and one that failed can be explained.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(\(\d+\))?$")
_CELL = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
         "_cell_angle_gamma")
_POSITION_TAGS = ("_atom_site_fract_x", "_atom_site_cartn_x")


def _number(token: str) -> float | None:
    token = token.strip("'\"")
    if not _NUMBER.match(token):
        return None
    return float(token.split("(")[0])


# --------------------------------------------------------------------------------------------------------------
# CIF


@dataclass
class CifLayout:
    """The first data block with an atom-site loop, as declared."""

    cell: dict            # tag -> raw value, for the six cell tags present
    columns: int = 0      # columns of the atom-site loop (0: no such loop)
    rows: int = 0         # complete rows
    last_row: int = 0     # values in an incomplete last row (0: none)
    formula_sum: str | None = None
    z: float | None = None
    blocks_with_atoms: int = 0


def scan_cif(text: str) -> CifLayout:
    layout = CifLayout(cell={})
    blocks = re.split(r"(?im)^\s*data_\S*", text)
    for block in blocks:
        if not re.search(r"(?i)_atom_site_(fract|cartn)_x", block):
            continue
        layout.blocks_with_atoms += 1
        if layout.blocks_with_atoms == 1:
            _scan_block(block, layout)
    if layout.blocks_with_atoms == 0 and blocks:
        _scan_block(blocks[-1], layout)  # still report the cell of a block without atoms
    return layout


def _scan_block(block: str, layout: CifLayout) -> None:
    lines = [ln for ln in block.splitlines() if not ln.lstrip().startswith("#")]
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        low = stripped.lower()
        if low.startswith("loop_"):
            tags, values, i = _read_loop(lines, i + 1)
            if any(t.lower() in _POSITION_TAGS for t in tags) and layout.columns == 0:
                layout.columns = len(tags)
                layout.rows, layout.last_row = divmod(len(values), len(tags))
            continue
        if low.startswith("_"):
            parts = stripped.split(None, 1)
            tag, value = parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""
            if not value and i + 1 < len(lines) and not lines[i + 1].lstrip().startswith(("_", ";", "loop_")):
                value = lines[i + 1].strip()
            if tag in _CELL:
                layout.cell[tag] = value
            elif tag == "_chemical_formula_sum":
                layout.formula_sum = value.strip("'\"") or None
            elif tag == "_cell_formula_units_z":
                layout.z = _number(value)
        i += 1


def _read_loop(lines: list[str], i: int) -> tuple[list[str], list[str], int]:
    tags: list[str] = []
    while i < len(lines) and lines[i].strip().startswith("_"):
        tags.append(lines[i].split()[0])
        i += 1
    values: list[str] = []
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.lower().startswith(("loop_", "_", "data_")):
            break
        values.extend(_TOKEN.findall(stripped))
        i += 1
    return tags, values, i


def cif_failure(layout: CifLayout) -> str | None:
    """Why a CIF pymatgen could not parse is unusable, when its layout says (None: it does not)."""
    missing = [t for t in _CELL if t not in layout.cell]
    if missing:
        return f"the cell is incomplete: {', '.join(missing)} missing (the file may be cut short)"
    values = {t: _number(v) for t, v in layout.cell.items()}
    bad = [f"{t} {layout.cell[t]!r}" for t, v in values.items() if v is None]
    if bad:
        return f"cell parameters that are not numbers: {', '.join(bad)}"
    lengths = [values[t] for t in _CELL[:3]]
    if min(lengths) <= 0:
        return f"the cell has a zero or negative length (a, b, c = {', '.join(f'{x:g}' for x in lengths)} Å)"
    if _cell_volume(*lengths, *(values[t] for t in _CELL[3:])) <= 1e-8 * math.prod(lengths):
        return "the cell volume is 0 (its angles make the lattice vectors coplanar)"
    if layout.columns == 0:
        return "no atom-site loop (_atom_site_fract_x or _atom_site_Cartn_x): the structure has no sites"
    if layout.last_row:
        return (f"the file is truncated: the last row of the atom-site loop has {layout.last_row} of "
                f"{layout.columns} values (after {_rows(layout.rows)})")
    if layout.rows == 0:
        return "the atom-site loop has no rows: the structure has no sites"
    return None


def _cell_volume(a, b, c, alpha, beta, gamma) -> float:
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    return a * b * c * math.sqrt(max(0.0, 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg))


def cif_mismatch(structure, layout: CifLayout) -> str | None:
    """How a parsed CIF disagrees with what it declares (truncated atom loop...), or None."""
    if layout.last_row:
        return cif_failure(layout)
    if layout.blocks_with_atoms != 1 or not layout.formula_sum:
        return None
    from pymatgen.core import Composition
    from pymatgen.core.periodic_table import DummySpecies

    if any(isinstance(sp, DummySpecies) for sp in structure.types_of_species):
        return None  # an unknown element: validation names it, which says more than a formula mismatch

    try:
        declared = Composition(layout.formula_sum).element_composition
    except Exception:  # an unusual spelling of the formula is not the structure's fault: no cross-check
        return None
    parsed = structure.composition.element_composition
    if layout.z is not None and layout.z > 0:
        # Some writers (pymatgen's among them) put the cell contents in _chemical_formula_sum and Z as well:
        # either reading is accepted, and the message quotes the closer one.
        readings = [declared * layout.z, declared]
        if not any(_close(parsed, r, relative=False) for r in readings):
            expected = min(readings, key=lambda r: abs(r.num_atoms - parsed.num_atoms))
            return (f"its atom-site loop holds {_formula(parsed)} ({parsed.num_atoms:g} atoms) but the file declares "
                    f"{_formula(expected)} ({expected.num_atoms:g} atoms; _chemical_formula_sum "
                    f"{layout.formula_sum!r}, Z = {layout.z:g}): the file may be truncated ({_rows(layout.rows)} in "
                    f"the atom-site loop)")
    elif not _close(parsed, declared, relative=True):
        return (f"its atom-site loop holds {_formula(parsed)} but the file declares _chemical_formula_sum "
                f"{layout.formula_sum!r}: the file may be truncated ({_rows(layout.rows)} in the atom-site loop)")
    return None


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _close(parsed, declared, relative: bool) -> bool:
    elements = set(parsed) | set(declared)
    if relative:
        p, d = parsed.fractional_composition, declared.fractional_composition
        return all(abs(p[e] - d[e]) <= 0.01 for e in elements)
    return all(abs(parsed[e] - declared[e]) <= max(0.05, 0.01 * declared[e]) for e in elements)


def _formula(comp) -> str:
    return " ".join(f"{el.symbol}{amt:g}" for el, amt in sorted(comp.items(), key=lambda kv: kv[0].X))


# --------------------------------------------------------------------------------------------------------------
# POSCAR


def poscar_problem(text: str) -> str | None:
    """How a POSCAR's species counts, lattice or coordinate lines are inconsistent, or None."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2 or not lines[1].split() or _number(lines[1].split()[0]) is None:
        return "the file is truncated or not a POSCAR: line 2 should hold the scaling factor"
    for k in range(2, 5):
        if k >= len(lines):
            return f"the file is truncated in its lattice: {k - 2} of 3 lattice vectors (lines 3-5)"
        values = [_number(t) for t in lines[k].split()[:3]]
        if len(values) < 3 or None in values:
            return f"lattice vector on line {k + 1} is not three numbers: {lines[k].strip()!r}"
    if len(lines) < 6:
        return "the file is truncated after its lattice: no species counts"
    k = 5
    symbols = lines[k].split()
    if symbols and all(_is_int(t) for t in symbols):
        symbols, counts_line = [], k
    else:
        counts_line = k + 1
        if counts_line >= len(lines):
            return "the file is truncated after its species line: no counts"
    tokens = lines[counts_line].split()
    if not tokens or not all(_is_int(t) for t in tokens):
        return f"line {counts_line + 1} should hold the count of each species, got {lines[counts_line].strip()!r}"
    counts = [int(t) for t in tokens]
    if symbols and len(symbols) != len(counts):
        return (f"line {k + 1} names {len(symbols)} species ({' '.join(symbols)}) but line {counts_line + 1} gives "
                f"{len(counts)} counts ({' '.join(tokens)})")
    total = sum(counts)
    if total <= 0:
        return "the species counts add up to 0: the structure has no sites"
    k = counts_line + 1
    if k < len(lines) and lines[k].strip()[:1] in ("S", "s"):
        k += 1  # selective dynamics
    if k >= len(lines):
        return f"the file is truncated: it declares {total} atoms but has no coordinates"
    k += 1  # Direct / Cartesian
    n_coords = 0
    while k + n_coords < len(lines) and _is_coordinate_line(lines[k + n_coords]):
        n_coords += 1
    declared = f"the counts ({' '.join(tokens)}) declare {total} atoms"
    if n_coords < total:
        return f"the file is truncated: {declared} but it has only {n_coords} coordinate line{'' if n_coords == 1 else 's'}"
    if n_coords > total:
        return (f"{declared} but it has {n_coords} coordinate lines: the counts do not cover every atom (or a "
                f"blank line is missing before the velocities)")
    return None


def _is_int(token: str) -> bool:
    return token.isdigit()


def _is_coordinate_line(line: str) -> bool:
    parts = line.split()
    return len(parts) >= 3 and all(_number(t) is not None for t in parts[:3])


# --------------------------------------------------------------------------------------------------------------
# low-level errors


# (what the exception text contains, what it means); first match wins.
_PLAIN = (
    ("singular matrix", "the cell volume is 0 (lattice vectors are zero or coplanar)"),
    ("occupancy", "overlapping atoms: sites at the same position whose occupancies add up to more than 1 ({})"),
    ("cannot reshape array of size", "the lattice is incomplete (it needs 3 vectors of 3 numbers)"),
    ("integer modulo by zero", "the structure has no sites"),
    ("zip() argument", "the atom-site loop has an incomplete row: the file may be truncated"),
    ("list index out of range", "the file is truncated or has a missing line (a list ended early)"),
    ("could not convert string to float", "a number is expected where the text has {}"),
    ("is not a valid element", "unknown element: {}"),
    ("no structure parsed", "no structure in the text ({})"),
)


def plain_reason(exc) -> str:
    """A statement of what is wrong for a low-level parse error; the original text is kept after it."""
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip()) or type(exc).__name__
    low = text.lower()
    for needle, meaning in _PLAIN:
        if needle in low:
            return meaning.format(text) if "{}" in meaning else f"{meaning} [{text}]"
    if isinstance(exc, KeyError):
        return f"a required entry is missing: {text}"
    return text
