"""Structure reading and validation, on real files from the shared data folder where possible."""

import ast
import gzip
import json
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from bench.structures import (
    StructureError,
    TargetError,
    check_targets,
    parse_structure,
    read_structure_file,
    validate_structure,
)

DATA = Path(os.environ.get("BENCH_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data")
RAW = DATA / "raw"


def raw_file(rel: str) -> Path:
    path = RAW / rel
    if not path.exists():
        pytest.skip(f"shared data file {path} not available")
    return path


@pytest.fixture(scope="module")
def piezo():
    return pd.read_csv(raw_file("matminer_v0.4.0/piezoelectric_tensor.csv.gz"), skiprows=1)


@pytest.fixture(scope="module")
def phonon():
    df = pd.read_csv(raw_file("automatminer/phonon_dielectric_mp.csv.gz"))
    return df.dropna(subset=["structure"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def jarvis_entries():
    with gzip.open(raw_file("devi2024/test/pz_std_10_test.json.gz"), "rt") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def perov_poscars():
    with zipfile.ZipFile(raw_file("jarvis_leaderboard/perov5_heat_ref.json.zip")) as zf:
        data = json.loads(zf.read("perov5_heat_ref.json"))
    return list(data["test"].items())[:20]


def obelix_cif(name: str) -> str:
    with tarfile.open(raw_file("obelix/train_cifs.tar.gz")) as tf:
        return tf.extractfile(f"train_randomized_cifs/{name}.cif").read().decode()


def jarvis_dict(lattice, elements, coords, cartesian=False):
    return {"lattice_mat": lattice, "elements": elements, "coords": coords, "cartesian": cartesian}


CUBIC10 = [[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]]


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.parametrize("row", [0, 1, 7, 100, 500, 940])
def test_piezo_cif_and_poscar_agree(piezo, row):
    mpid = piezo.material_id[row]
    from_cif = parse_structure(piezo.structure[row], source=mpid)
    from_poscar = parse_structure(piezo.poscar[row], source=mpid)
    assert isinstance(from_cif, Structure)
    assert len(from_cif) == len(from_poscar) == piezo.nsites[row]
    assert from_cif.composition == from_poscar.composition
    assert from_cif.lattice.volume == pytest.approx(from_poscar.lattice.volume, rel=1e-4)
    # explicit formats give the same as auto-detection
    assert parse_structure(piezo.structure[row], fmt="cif") == from_cif
    assert parse_structure(piezo.poscar[row], fmt="poscar") == from_poscar


def test_pymatgen_dict_repr(phonon):
    text = phonon.structure[0]
    assert text.startswith("{'@module'")
    expected = Structure.from_dict(ast.literal_eval(text))
    for obj, fmt in [
        (text, None),
        (text, "pymatgen"),
        (ast.literal_eval(text), None),
        (json.dumps(ast.literal_eval(text)), None),  # JSON text
        (text.replace("'element'", "u'element'").replace("'@class'", "u'@class'"), None),  # Python 2 repr
        ("\n  " + text, None),
    ]:
        s = parse_structure(obj, fmt=fmt, source=phonon.mpid[0])
        assert s == expected
    assert s.composition.reduced_formula == phonon.formula[0]


def test_flla_dict_repr_with_site_properties():
    df = pd.read_csv(raw_file("matminer_v0.4.0/flla_2015.csv.gz"), skiprows=1, nrows=5)
    for mpid, text, nsites in zip(df.material_id, df.structure, df.nsites):
        assert len(parse_structure(text, source=mpid)) == nsites


def test_jarvis_atoms_dict(jarvis_entries):
    for entry in jarvis_entries[:10]:
        atoms = entry["atoms"]
        s = parse_structure(atoms, source=str(entry["jid"]))
        lattice = np.array(atoms["lattice_mat"])
        assert s.lattice.matrix == pytest.approx(lattice)
        assert [site.specie.symbol for site in s] == atoms["elements"]
        assert s.cart_coords == pytest.approx(np.array(atoms["coords"]) @ lattice)
        # the same structure in Cartesian coordinates, and as JSON / repr text with an explicit format
        cart = dict(atoms, coords=(np.array(atoms["coords"]) @ lattice).tolist(), cartesian=True)
        assert parse_structure(cart).frac_coords == pytest.approx(s.frac_coords, abs=1e-9)
        assert parse_structure(json.dumps(atoms), fmt="jarvis") == s
        assert parse_structure(repr(atoms)) == s


def test_poscar_with_literal_backslash_n(perov_poscars):
    for key, text in perov_poscars:
        assert "\\n" in text and "\n" not in text
        s = parse_structure(text, source=f"perov5:{key}")
        assert len(s) == 5
        assert s == parse_structure(text.replace("\\n", "\n"))


def test_structure_object_is_validated():
    good = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert parse_structure(good) is good
    bad = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    with pytest.raises(StructureError, match="too close"):
        parse_structure(bad, source="mp-x")


def test_partially_occupied_sites_are_accepted():
    cif = obelix_cif("joc")  # Li6P2S7.82: S sites with occupancy 0.97-0.99
    s = parse_structure(cif, source="joc.cif")
    assert not s.is_ordered
    assert len(s) == 16
    # split Li positions (occupancy 0.025) 0.22 Å apart are alternatives, not a clash
    assert not parse_structure(obelix_cif("019"), source="019.cif").is_ordered


def test_partial_site_next_to_full_site_is_rejected():
    s = Structure(Lattice.cubic(10), [{"Li": 0.5}, "O"], [[0, 0, 0], [0.02, 0, 0]])
    with pytest.raises(StructureError, match="0.200 Å"):
        validate_structure(s)
    split = Structure(Lattice.cubic(10), [{"Li": 0.5}, {"Li": 0.5}], [[0, 0, 0], [0.02, 0, 0]])
    assert validate_structure(split) is split


# ---------------------------------------------------------------------------------------------- files


def test_read_files(tmp_path, piezo, jarvis_entries):
    cif, poscar = piezo.structure[3], piezo.poscar[3]
    expected = parse_structure(cif)
    files = {
        "a.cif": cif,
        "POSCAR": poscar,
        "CONTCAR": poscar,
        "x.vasp": poscar,
        "x.poscar": poscar,
        "pmg.json": json.dumps(expected.as_dict()),
        "noext": cif,  # detected from the content
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        s = read_structure_file(tmp_path / name)
        assert s.composition == expected.composition and len(s) == len(expected), name
    with gzip.open(tmp_path / "b.cif.gz", "wt") as fh:
        fh.write(cif)
    assert read_structure_file(str(tmp_path / "b.cif.gz")) == read_structure_file(tmp_path / "a.cif")

    atoms = jarvis_entries[0]["atoms"]
    (tmp_path / "jarvis.json").write_text(json.dumps(atoms))
    assert read_structure_file(tmp_path / "jarvis.json") == parse_structure(atoms)


def test_file_errors_name_the_path(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a 3.0\nloop_\n _atom_site_label\n")
    with pytest.raises(StructureError, match="unparseable CIF") as err:
        read_structure_file(bad)
    assert str(bad) in str(err.value) and err.value.source == str(bad)

    missing = tmp_path / "nope.cif"
    with pytest.raises(StructureError, match="cannot read file") as err:
        read_structure_file(missing)
    assert str(missing) in str(err.value)

    js = tmp_path / "list.json"
    js.write_text("[1, 2]")
    with pytest.raises(StructureError, match="list.json.*JSON object"):
        read_structure_file(js)
    js.write_text("{not json")
    with pytest.raises(StructureError, match="invalid JSON"):
        read_structure_file(js)

    poscar = tmp_path / "POSCAR"
    poscar.write_text("Xx Si\n1.0\n5 0 0\n0 5 0\n0 0 5\nXx Si\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    with pytest.raises(StructureError, match="'Xx' at site 0") as err:
        read_structure_file(poscar)
    assert str(poscar) in str(err.value)


# ---------------------------------------------------------------------------------------------- errors


def test_truncated_and_garbage_cif(piezo):
    truncated = piezo.structure[0][:400]
    with pytest.raises(StructureError, match=r"^mp-trunc: unparseable CIF: \S"):
        parse_structure(truncated, source="mp-trunc")
    with pytest.raises(StructureError, match="^junk: unparseable CIF"):
        parse_structure("data_junk\nthis is not a CIF at all\n", source="junk")
    with pytest.raises(StructureError, match="^junk2: unparseable CIF"):
        parse_structure("#$%^ garbage", fmt="cif", source="junk2")


def test_garbage_poscar_and_missing_values():
    with pytest.raises(StructureError, match="^p1: unparseable POSCAR"):
        parse_structure("hello\nworld\n", source="p1")
    for missing in ["na", "", "  ", float("nan"), None]:
        with pytest.raises(StructureError, match="^m: missing structure"):
            parse_structure(missing, source="m")
    with pytest.raises(StructureError, match="unsupported structure input of type int"):
        parse_structure(42)
    with pytest.raises(StructureError, match="neither a pymatgen Structure nor a JARVIS"):
        parse_structure({"foo": 1})
    with pytest.raises(StructureError, match="expected CIF text, got a dict"):
        parse_structure({"lattice_mat": CUBIC10}, fmt="cif")
    with pytest.raises(ValueError, match="unknown structure format"):
        parse_structure("x", fmt="xyz")


def test_jarvis_missing_values():
    with pytest.raises(StructureError, match="^jvasp-1: lattice_mat has missing or non-numeric"):
        parse_structure(jarvis_dict("na", ["Si"], [[0, 0, 0]]), source="jvasp-1")
    with pytest.raises(StructureError, match="coords has missing values \\(-99999\\)"):
        parse_structure(jarvis_dict(CUBIC10, ["Si"], [[0, 0, -99999]]), source="jvasp-2")
    with pytest.raises(StructureError, match="missing element 'na' at site 1"):
        parse_structure(jarvis_dict(CUBIC10, ["Si", "na"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    with pytest.raises(StructureError, match="coords has shape"):
        parse_structure(jarvis_dict(CUBIC10, ["Si", "Si"], [[0, 0, 0]]))
    with pytest.raises(StructureError, match="lacks 'elements'"):
        parse_structure({"lattice_mat": CUBIC10, "coords": [[0, 0, 0]]})
    with pytest.raises(StructureError, match="no sites"):
        parse_structure(jarvis_dict(CUBIC10, [], []))


def test_zero_volume_lattice():
    coplanar = [[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]]
    for cartesian in (False, True):
        with pytest.raises(StructureError, match="^jv-flat: cell volume is 0"):
            parse_structure(jarvis_dict(coplanar, ["Si"], [[0, 0, 0]], cartesian), source="jv-flat")
    flat = Structure(Lattice(coplanar), ["Si"], [[0, 0, 0]])
    with pytest.raises(StructureError, match="coplanar"):
        validate_structure(flat, source="flat")
    poscar = "flat\n1.0\n3 0 0\n0 3 0\n0 0 0\nSi\n1\ndirect\n0 0 0\n"
    with pytest.raises(StructureError, match="^p: .*volume"):
        parse_structure(poscar, source="p")


def test_non_finite_lattice_and_coordinates():
    s = Structure(Lattice.cubic(5), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.replace(1, "Si", [np.nan, 0.5, 0.5])
    with pytest.raises(StructureError, match="site 1 has non-finite coordinates"):
        validate_structure(s)
    with pytest.raises(StructureError, match="non-finite"):
        parse_structure(jarvis_dict([[np.inf, 0, 0], [0, 1, 0], [0, 0, 1]], ["Si"], [[0, 0, 0]]))


def test_atoms_too_close():
    s = Structure(Lattice.cubic(10), ["Si", "O", "O"], [[1, 1, 1], [1.2, 1, 1], [5, 5, 5]], coords_are_cartesian=True)
    with pytest.raises(StructureError) as err:
        validate_structure(s, source="close.cif")
    msg = str(err.value)
    assert msg.startswith("close.cif: atoms too close")
    assert "sites 0 (Si) and 1 (O) are 0.200 Å apart" in msg
    assert "1 close pair" in msg
    assert validate_structure(s, min_distance=0.1) is s


def test_atoms_too_close_across_periodic_boundary():
    d = jarvis_dict(CUBIC10, ["Si", "Si"], [[0.0, 0.5, 0.5], [0.97, 0.5, 0.5]])
    with pytest.raises(StructureError, match=r"^jv-pbc: .*sites 0 \(Si\) and 1 \(Si, periodic image .*0\.300 Å"):
        parse_structure(d, source="jv-pbc")


def test_atom_too_close_to_its_own_image_and_duplicates():
    tiny = Structure(Lattice([[0.3, 0, 0], [0, 5, 0], [0, 0, 5]]), ["H"], [[0, 0, 0]])
    with pytest.raises(StructureError, match=r"site 0 \(H\) is 0.300 Å from its own periodic image"):
        validate_structure(tiny)
    dup = Structure(Lattice.cubic(5), ["Si", "Si"], [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]])
    with pytest.raises(StructureError, match="0.000 Å apart"):
        validate_structure(dup)


def test_unknown_element_in_jarvis_dict_and_poscar():
    d = jarvis_dict(CUBIC10, ["Si", "Xx"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="^jv-x: unknown element 'Xx' at site 1"):
        parse_structure(d, source="jv-x")
    poscar = "bad\n1.0\n5 0 0\n0 5 0\n0 0 5\nSi Xx\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n"
    with pytest.raises(StructureError, match="^p-x: unknown element or dummy.*'Xx' at site 1"):
        parse_structure(poscar, source="p-x")
    dummy = Structure(Lattice.cubic(5), ["Si", "X"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="dummy/vacancy species"):
        parse_structure(dummy.as_dict())


def test_element_beyond_z100():
    ok = jarvis_dict(CUBIC10, ["Fm", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # Fm: Z = 100
    assert parse_structure(ok).composition.reduced_formula == "FmO"
    bad = jarvis_dict(CUBIC10, ["Md", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # Md: Z = 101
    with pytest.raises(StructureError, match=r"^jv-md: element Md \(Z=101\) has Z > 100.*at site 0"):
        parse_structure(bad, source="jv-md")


@pytest.mark.parametrize("fmt", [None, "pymatgen", "jarvis"])
def test_malicious_repr_is_not_executed(tmp_path, fmt):
    marker = tmp_path / "pwned"
    payloads = [
        "__import__('os').system('echo hi')",
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"{{'lattice': __import__('pathlib').Path({str(marker)!r}).touch(), 'sites': []}}",
    ]
    for payload in payloads:
        with pytest.raises(StructureError, match="^evil: "):
            parse_structure(payload, fmt=fmt, source="evil")
    assert not marker.exists()


def test_structure_error_attributes_and_pickle():
    err = StructureError("file.cif", "broken")
    assert isinstance(err, ValueError)
    assert (err.source, err.problem, str(err)) == ("file.cif", "broken", "file.cif: broken")
    again = pickle.loads(pickle.dumps(err))
    assert (again.source, again.problem) == ("file.cif", "broken")


# ---------------------------------------------------------------------------------------------- targets


def test_check_targets_accepts_finite_values(jarvis_entries):
    check_targets([e["target"] for e in jarvis_entries], [e["jid"] for e in jarvis_entries], source="pz test")
    check_targets(np.zeros((3, 2)), ["a", "b", "c"])  # multi-property rows
    check_targets([], [])


def test_check_targets_nan_and_inf():
    with pytest.raises(TargetError) as err:
        check_targets([1.0, float("nan"), 2.0, float("inf"), -np.inf], ["a", "b", "c", "d", "e"], source="pz")
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert msg.startswith("pz: 3 of 5 target values")
    assert "ids: b, d, e" in msg
    assert err.value.bad_ids == ["b", "d", "e"]


def test_check_targets_lists_at_most_five_ids():
    values = [np.nan] * 8 + [1.0, 2.0]
    ids = [f"mp-{i}" for i in range(10)]
    with pytest.raises(TargetError, match=r"^<dataset>: 8 of 10 .*mp-0, mp-1, mp-2, mp-3, mp-4, \.\.\.\)") as err:
        check_targets(values, ids)
    assert "mp-5" not in str(err.value)


def test_check_targets_missing_markers_and_rows():
    with pytest.raises(TargetError, match="2 of 3 .*ids: 1, 2"):
        check_targets(pd.Series([0.5, "na", None], dtype=object), [0, 1, 2])
    with pytest.raises(TargetError, match="1 of 2 .*ids: y"):
        check_targets([[1.0, 2.0], [3.0, np.nan]], ["x", "y"])
    with pytest.raises(ValueError, match="2 target values but 3 ids"):
        check_targets([1.0, 2.0], [1, 2, 3])



# ---------------------------------------------------------------------------------------------- cut files


def _atom_rows(cif: str) -> tuple[list[str], int]:
    """The CIF's lines and the index of its first atom-site row."""
    lines = cif.splitlines()
    return lines, next(i for i, ln in enumerate(lines) if ln.strip() == "_atom_site_occupancy") + 1


@pytest.fixture(scope="module")
def big_cif(piezo):
    """A real piezo structure as a 2,000-atom supercell, written by pymatgen (formula sum and Z declared)."""
    from pymatgen.io.cif import CifWriter

    s = parse_structure(piezo.structure[0])  # 2 sites
    assert len(s) == 2
    return str(CifWriter(s * (10, 10, 10)))


def test_cif_cut_in_its_atom_loop_is_an_error(big_cif):
    lines, first = _atom_rows(big_cif)
    assert len(lines) - first == 2000
    assert len(parse_structure(big_cif)) == 2000
    cut = "\n".join(lines[:first + 987]) + "\n"
    with pytest.raises(StructureError, match=r"^big\.cif: inconsistent CIF: its atom-site loop holds .*\(987 atoms\) "
                                             r"but the file declares Ag1000 I1000 \(2000 atoms; _chemical_formula_sum 'Ag1000 I1000', Z = 1000\): the file may be "
                                             r"truncated \(987 rows"):
        parse_structure(cut, source="big.cif")


def test_cif_cut_in_the_middle_of_a_row_says_truncated(big_cif):
    lines, first = _atom_rows(big_cif)
    row = lines[first + 987].split()
    cut = "\n".join(lines[:first + 987] + ["  " + "  ".join(row[:4])])
    with pytest.raises(StructureError, match=r"unparseable CIF: the file is truncated: the last row of the atom-site "
                                             r"loop has 4 of 7 values \(after 987 rows\)"):
        parse_structure(cut, source="big.cif")


def test_cif_cut_is_caught_with_symmetry_and_partial_occupancy():
    """A real OBELiX CIF (P-1, Li sites 0.875 occupied): a cut row changes the expanded composition."""
    cif = obelix_cif("jqc")
    assert parse_structure(cif).composition.reduced_formula == "Li7BiO6"
    lines, first = _atom_rows(cif)
    with pytest.raises(StructureError, match=r"inconsistent CIF: .*declares Li7 Bi1 O6 \(14 atoms; _chemical_formula_sum 'Li7 Bi1 O6', Z = 1\)"):
        parse_structure("\n".join(lines[:-1]), source="jqc.cif")


def test_cif_cut_without_z_is_checked_against_the_formula(piezo):
    cif = piezo.structure[1]
    no_z = "\n".join(ln for ln in cif.splitlines() if not ln.startswith("_cell_formula_units_Z"))
    assert parse_structure(no_z) == parse_structure(cif)
    lines, first = _atom_rows(no_z)
    with pytest.raises(StructureError, match="declares _chemical_formula_sum 'Cd1 Te1'"):
        parse_structure("\n".join(lines[:first + 1]), source="cdte.cif")


def test_poscar_counts_must_match_its_coordinate_lines(piezo):
    poscar = piezo.poscar[5]
    s = parse_structure(poscar)
    lines = poscar.rstrip().splitlines()
    counts = lines[6].split()
    extra = "\n".join(lines + ["0.1 0.2 0.3 " + lines[5].split()[0]])
    with pytest.raises(StructureError, match=rf"^p: inconsistent POSCAR: the counts \({' '.join(counts)}\) declare "
                                             rf"{len(s)} atoms but it has {len(s) + 1} coordinate lines"):
        parse_structure(extra, source="p")
    fewer = "\n".join(lines[:6] + [" ".join(counts[:-1] + [str(int(counts[-1]) - 1)])] + lines[7:])
    with pytest.raises(StructureError, match=f"declare {len(s) - 1} atoms but it has {len(s)} coordinate lines"):
        parse_structure(fewer, source="p")
    with pytest.raises(StructureError, match=rf"unparseable POSCAR: the file is truncated: .* declare {len(s)} atoms "
                                             rf"but it has only {len(s) - 1} coordinate lines?"):
        parse_structure("\n".join(lines[:-1]), source="p")
    # velocities after a blank line are not coordinates
    assert parse_structure("\n".join(lines + ["", "0 0 0"] * 1)) == s


@pytest.mark.parametrize("case,message", [
    ("cif_no_rows", "the atom-site loop has no rows: the structure has no sites"),
    ("cif_no_loop", "no atom-site loop .*: the structure has no sites"),
    ("cif_no_cell", r"the cell is incomplete: _cell_length_a missing"),
    ("cif_zero_length", r"the cell has a zero or negative length \(a, b, c = 0,"),
    ("cif_flat", "the cell volume is 0"),
    ("cif_overlap", "overlapping atoms: sites at the same position"),
    ("cif_unknown", "unknown element or dummy/vacancy species 'Qq' at site 0"),
    ("poscar_cut_lattice", r"the file is truncated in its lattice: 1 of 3 lattice vectors"),
    ("poscar_counts", r"line 7 should hold the count of each species, got 'x y'"),
    ("poscar_species", r"line 6 names 2 species \(Ag I\) but line 7 gives 3 counts"),
    ("dict_flat", "cell volume is 0"),
])
def test_low_level_errors_become_statements(piezo, case, message):
    cif, poscar = piezo.structure[0], piezo.poscar[0]
    lines, first = _atom_rows(cif)
    pl = poscar.splitlines()
    text = {
        "cif_no_rows": "\n".join(lines[:first]),
        "cif_no_loop": "\n".join(lines[:first - 8]),
        "cif_no_cell": cif.replace("_cell_length_a", "_cell_length_q"),
        "cif_zero_length": "\n".join("_cell_length_a 0" if ln.startswith("_cell_length_a") else ln for ln in lines),
        "cif_flat": "\n".join("_cell_angle_gamma 180" if ln.startswith("_cell_angle_gamma") else
                              "_cell_angle_alpha 90" if ln.startswith("_cell_angle_alpha") else
                              "_cell_angle_beta 90" if ln.startswith("_cell_angle_beta") else ln for ln in lines),
        "cif_overlap": cif + "\n" + lines[first] + "\n",
        "cif_unknown": "\n".join(lines[:first] + [lines[first].replace(lines[first].split()[0], "Qq", 1)]
                                 + lines[first + 1:]),
        "poscar_cut_lattice": "\n".join(pl[:3]),
        "poscar_counts": "\n".join(pl[:6] + ["x y"] + pl[7:]),
        "poscar_species": "\n".join(pl[:6] + [pl[6] + " 3"] + pl[7:]),
        "dict_flat": {**parse_structure(cif).as_dict(), "lattice": {"matrix": [[1, 0, 0], [2, 0, 0], [0, 0, 1]]}},
    }[case]
    with pytest.raises(StructureError) as err:
        parse_structure(text, source="e")
    assert re_search(message, str(err.value)), str(err.value)
    for cryptic in ("modulo by zero", "list index out of range", "zip()", "Singular matrix", "reshape"):
        assert cryptic not in str(err.value)


def re_search(pattern, text):
    import re

    return re.search(pattern, text)
