"""The large downloadable sources (Matbench, JARVIS dft_3d) parse files in their upstream format: tiny files
generated here from real structures, laid out like the data directory."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bench.dataset import load_splits
from bench.graphs.cache import GraphCache
from tasks import get_task
from tasks.jarvis_dft3d import MEMBER, RELPATH
from tasks.matbench import TASKS as MATBENCH_TASKS
from tasks.matbench import matminer_records

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "matminer_dataset_urls.json"


def _jarvis_atoms(s) -> dict:
    return {"lattice_mat": s.lattice.matrix.tolist(), "coords": s.frac_coords.tolist(),
            "elements": [site.specie.symbol for site in s], "cartesian": False,
            "abc": list(s.lattice.abc), "angles": list(s.lattice.angles), "props": [""] * len(s)}


def _write_matbench(root: Path, task, structures) -> list[str]:
    ids = [f"mb-test-{i + 1:06d}" for i in range(len(structures) + 1)]
    data = [[s.as_dict(), 0.5 * i + 1.0] for i, s in enumerate(structures)] + [[structures[0].as_dict(), None]]
    path = root / task.files[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        json.dump({"index": ids, "columns": ["structure", task.target], "data": data}, fh)
    return ids


@pytest.fixture
def five(piezo_structures):
    return piezo_structures[:5]


def test_matbench_tasks_load_the_upstream_format(tmp_path, five):
    for task in MATBENCH_TASKS:
        ids = _write_matbench(tmp_path, task, five)
        data = task.load(tmp_path)
        assert data.ids == ids[:5]  # file order: Matbench's folds depend on it
        assert [r.target for r in data.records.values()] == [1.0, 1.5, 2.0, 2.5, 3.0]
        assert data.dropped == [(ids[5], "missing target: empty")]
        assert all(r.fmt == "pymatgen" for r in data.records.values())


def test_matbench_task_builds_graphs_for_a_fold(tmp_path, five):
    task = get_task("mp-gap")
    _write_matbench(tmp_path, task, five)
    splits = load_splits(task, tmp_path, GraphCache(tmp_path / "cache"), fold=0)
    assert sum(len(s) for s in splits.values()) == 5 and len(splits["test"]) == 1
    for part in splits.values():
        for graph, target in zip(part.graphs, part.targets):
            assert graph.y.item() == pytest.approx(target)
    assert task.protocol(0).describe().startswith("5-fold CV")
    assert task.split.describe().startswith("fixed test 10%")


def test_jarvis_dft3d_drops_missing_values(tmp_path, five):
    entries = []
    for i, s in enumerate(five):
        entries.append({"jid": f"JVASP-{i + 1}", "atoms": _jarvis_atoms(s), "formation_energy_peratom": -0.1 * i,
                        "optb88vdw_bandgap": "na" if i == 2 else 0.2 * i, "mbj_bandgap": -99999 if i < 3 else 1.5})
    entries.append({"jid": "JVASP-99", "atoms": "na", "formation_energy_peratom": 0.3, "optb88vdw_bandgap": 1.0,
                    "mbj_bandgap": "na"})
    path = tmp_path / RELPATH
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MEMBER, json.dumps(entries))

    fe = get_task("dft3d-formation-energy").load(tmp_path)
    assert fe.ids == [f"JVASP-{i}" for i in range(1, 6)]
    assert fe.dropped == [("JVASP-99", "missing structure: 'na'")]
    gap = get_task("dft3d-optb88vdw-gap").load(tmp_path)
    assert "JVASP-3" not in gap.records and ("JVASP-3", "missing target: 'na'") in gap.dropped
    assert gap.records["JVASP-2"].target == pytest.approx(0.2) and gap.records["JVASP-2"].fmt == "jarvis"
    mbj = get_task("dft3d-mbj-gap").load(tmp_path)
    assert mbj.ids == ["JVASP-4", "JVASP-5"]
    assert [r for _, r in mbj.dropped][:3] == ["missing target: JARVIS missing value -99999"] * 3

    splits = load_splits(get_task("dft3d-formation-energy"), tmp_path, GraphCache(tmp_path / "cache"), fold=1)
    got = np.concatenate([s.targets for s in splits.values()])
    assert sorted(got) == pytest.approx(sorted(-0.1 * i for i in range(5)))
    assert all(g.num_nodes == len(five[int(i.split("-")[1]) - 1])
               for s in splits.values() for g, i in zip(s.graphs, s.ids))


def test_absent_files_say_how_to_download(tmp_path):
    for name in ("mp-e-form", "mp-gap", "matbench-log-gvrh", "matbench-log-kvrh", "dft3d-formation-energy"):
        with pytest.raises(FileNotFoundError, match=f"bench data fetch {name}"):
            get_task(name).load(tmp_path)


def test_sources_match_the_reference_urls():
    if not REFERENCE.exists():
        pytest.skip("reference URL list not found")
    ref = json.loads(REFERENCE.read_text())
    for task in MATBENCH_TASKS:
        (source,) = task.sources
        dataset = Path(source.relpath).name.removesuffix(".json.gz")
        assert source.url == ref[dataset]["url"] and source.sha256 == ref[dataset]["hash"]
        assert task.target in ref[dataset]["columns"]
        assert source.relpath == task.files[0]
    jarvis = get_task("dft3d-formation-energy").sources[0]
    assert jarvis.url.endswith("/files/38521619") and jarvis.sha256 is None and jarvis.member == MEMBER


def test_matminer_reader_takes_the_csv_dump_and_the_upstream_json(tmp_path, data_dir):
    """The loader proposed for piezo: the same rows from the local CSV and from matminer's JSON layout."""
    import pandas as pd
    from pymatgen.core import Structure

    from tasks import Task

    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=4)
    csv = tmp_path / "p.csv"
    csv.write_text("# ref: test\n" + frame.to_csv(index=False))
    rows = [[Structure.from_str(c, fmt="cif").as_dict(), t, m] for c, t, m in
            zip(frame["structure"], frame["eij_max"], frame["material_id"])]
    with gzip.open(tmp_path / "p.json.gz", "wt") as fh:
        json.dump({"index": list(range(4)), "columns": ["structure", "eij_max", "material_id"], "data": rows}, fh)
    loaded = {}
    for name in ("p.csv", "p.json.gz"):
        task = Task(name="p", description="", target="eij_max", units="", files=(name,),
                    loader=matminer_records("structure", "material_id"))
        loaded[name] = task.load(tmp_path)
    a, b = loaded["p.csv"], loaded["p.json.gz"]
    assert a.ids == b.ids == list(frame["material_id"])
    assert [r.target for r in a.records.values()] == [r.target for r in b.records.values()]
    assert {r.fmt for r in a.records.values()} == {"cif"} and {r.fmt for r in b.records.values()} == {None}
