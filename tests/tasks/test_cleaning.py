"""tasks.cleaning on synthetic structures: duplicates by structure, leakage matching, target and structure checks."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest

from tasks.cleaning import (SourceRows, category, clean, composition_key, find_duplicates, fingerprint, matches,
                            matching_ids, parse_target)


def _perovskite(a=3.9, species=("Sr", "Ti", "O")):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(a), list(species),
                                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])


def _rocksalt(a=5.64, cation="Na", anion="Cl"):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _moved(structure, seed=0):
    """Rotated, translated and site-permuted copy of ``structure``."""
    from pymatgen.core import Structure
    from pymatgen.core.operations import SymmOp

    s = structure.copy()
    s.apply_operation(SymmOp.from_axis_angle_and_translation([1.0, 0.7, 0.3], 37.0))
    s.translate_sites(list(range(len(s))), [0.13, 0.27, 0.41], frac_coords=True)
    sites = list(s)
    random.Random(seed).shuffle(sites)
    return Structure.from_sites(sites)


def test_rotated_translated_permuted_copy_is_a_duplicate():
    s = _perovskite()
    copy = _moved(s)
    assert not np.allclose(copy.lattice.matrix, s.lattice.matrix)  # really moved
    assert find_duplicates([s, _rocksalt(), copy]) == [(0, 2)]


def test_slightly_perturbed_copy_is_a_duplicate():
    s = _perovskite()
    noisy = s.copy()
    noisy.perturb(0.02)
    assert find_duplicates([s, noisy]) == [(0, 1)]


def test_supercell_is_the_same_material():
    """Documented choice: a supercell is a duplicate (the matcher compares primitive cells)."""
    s = _perovskite()
    assert find_duplicates([s, s * (2, 1, 1), s * (2, 2, 2)]) == [(0, 1), (0, 2)]
    assert fingerprint(s) == fingerprint(s * (2, 1, 1))


def test_same_composition_different_structure_is_not_a_duplicate():
    s = _perovskite()
    swapped = _perovskite(species=("Ti", "Sr", "O"))  # A and B sites exchanged: same formula and space group
    compressed = s.copy()
    compressed.scale_lattice(s.volume * 0.7)
    assert composition_key(s) == composition_key(swapped) == composition_key(compressed)
    assert find_duplicates([s, swapped, compressed]) == []


def test_oxidation_states_are_ignored():
    s = _rocksalt()
    decorated = s.copy()
    decorated.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    assert find_duplicates([s, decorated]) == [(0, 1)]


def test_disordered_copies_match():
    from pymatgen.core import Lattice, Structure

    mixed = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.9), [{"Na": 0.5, "K": 0.5}, "Cl"],
                                      [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert not mixed.is_ordered
    assert find_duplicates([mixed, _moved(mixed), _rocksalt()]) == [(0, 1)]


def test_keep_is_the_first_occurrence_and_never_dropped():
    s = _perovskite()
    structures = [s, _moved(s, 1), _rocksalt(), _moved(s, 2), _moved(_rocksalt(), 3)]
    pairs = find_duplicates(structures)
    assert pairs == [(0, 1), (0, 3), (2, 4)]
    assert not {k for k, _ in pairs} & {d for _, d in pairs}


def test_matching_ids_finds_test_structures_in_candidates():
    s = _perovskite()
    candidates = {"copy": _moved(s), "other": _rocksalt(), "swapped": _perovskite(species=("Ti", "Sr", "O")),
                  "super": s * (1, 1, 2)}
    reference = {"t1": s, "t2": _rocksalt(cation="K", a=6.3)}
    assert matching_ids(candidates, reference) == {"copy", "super"}
    assert matches(candidates, reference) == {"copy": "t1", "super": "t1"}
    assert matching_ids(candidates, {}) == set() and matching_ids({}, reference) == set()


def test_find_duplicates_on_real_structures_is_fast(piezo_structures):
    structures = list(piezo_structures) + [_moved(s, k) for k, s in enumerate(piezo_structures)]
    n = len(piezo_structures)
    t0 = time.process_time()
    pairs = find_duplicates(structures)
    seconds = time.process_time() - t0
    dropped = {d: k for k, d in pairs}
    assert set(range(n, 2 * n)) <= set(dropped)  # every moved copy is found
    for d in range(n, 2 * n):
        assert dropped[d] < n and composition_key(structures[dropped[d]]) == composition_key(structures[d])
    assert seconds < 20, f"{2 * n} structures took {seconds:.1f} s of CPU"


@pytest.mark.parametrize("raw, value, cat", [
    (1.5, 1.5, None), ("2e-3", 2e-3, None), ("na", None, "missing target"), (-99999, None, "missing target"),
    (None, None, "missing target"), (float("nan"), None, "missing target"), ("<1E-10", None, "censored target"),
    (float("inf"), None, "non-finite target"), ("abc", None, "missing target"),
])
def test_parse_target(raw, value, cat):
    got, reason = parse_target(raw)
    assert got == value
    assert (reason is None) if cat is None else category(reason) == cat


def test_clean_reports_every_removal_with_a_reason():
    from pymatgen.core import Lattice, Structure

    s = _perovskite()
    clash = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    rows = [
        ("a", s, 10.0, None),
        ("b", _rocksalt(), 100.0, None),
        ("c", None, 5.0, None),                 # missing structure
        ("d", clash, 5.0, None),                # invalid: atoms too close
        ("e", _rocksalt(a=6.0), 0.0, None),     # not positive: cannot take log10
        ("f", _rocksalt(a=6.1), "na", None),    # missing target
        ("g", _moved(s), 10.5, None),           # duplicate of a, similar target
        ("h", _moved(s, 5), 1000.0, None),      # duplicate of a, conflicting target
        ("a", _rocksalt(a=7.0), 3.0, None),     # duplicate id
    ]
    out = clean(SourceRows(rows, dropped=[("z", "missing structure: no file")]), "synthetic", transform="log10",
                positive=True)
    data = out.data
    assert list(data.records) == ["a", "b"]
    assert data.records["b"].target == pytest.approx(2.0)  # log10 applied
    reasons = dict(data.dropped)
    assert set(reasons) == {"z", "c", "d", "e", "f", "g", "h", "a"}
    cats = {i: category(r) for i, r in data.dropped}
    assert cats == {"z": "missing structure", "c": "missing structure", "d": "invalid structure",
                    "e": "non-positive target", "f": "missing target", "g": "duplicate structure",
                    "h": "duplicate structure, conflicting target", "a": "duplicate id"}
    assert "atoms too close" in reasons["d"]
    assert "same structure as a" in reasons["g"] and "same structure as a" in reasons["h"]
    assert set(out.structures) == {"a", "b"}
    assert all(math.isfinite(r.target) for r in data.records.values())


def test_clean_without_dedup_keeps_duplicates():
    s = _perovskite()
    out = clean(SourceRows([("a", s, 1.0, None), ("b", _moved(s), 1.0, None)]), "synthetic", dedup=False)
    assert list(out.data.records) == ["a", "b"] and out.data.dropped == []
