"""The devi2024 family: the paper's exact files, sizes and splits (``raw/devi2024``)."""

import csv
import gzip
import hashlib
import json
from collections import Counter

import pytest

from tasks import all_tasks, get_task
from tasks.devi2024 import FT_TARGETS, ROOT, collect, read_rows
from tasks.pretraining import pretraining_ids

TEST_SIZES = {"gv": 1100, "ph": 127, "dc": 106, "pz": 94, "ebg": 248, "2d": 110}
POOL_SIZES = {"fe": 8741, "bg": 9395, "gv": 5583, "ebg": 2203, "ph": 1138, "dc": 950, "pz": 847, "2d": 993}
FT_SIZES = (10, 100, 200, 500, 800)
REFERENCE_TARGETS = {"gv": "GV", "ph": "PH", "dc": "DC", "pz": "PZ", "ebg": "EBG", "2d": "JARVIS_2D_GAP"}


def digest(ids) -> str:
    return hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def loaded(data_dir):
    return {code: get_task(f"devi2024-{code}").load(data_dir) for code in POOL_SIZES}


def test_registry_roles_and_metadata():
    tasks = all_tasks()
    for code in FT_TARGETS:
        assert tasks[f"devi2024-{code}"].role == ("pt_source", "ft_target")
    assert tasks["devi2024-2d"].role == ("ood_target",)
    assert tasks["devi2024-bg"].role == tasks["devi2024-fe"].role == ("pt_source",)
    for code in POOL_SIZES:
        t = tasks[f"devi2024-{code}"]
        assert t.units == "min-max scaled to [-1, 1] (scale not stored)"
        assert t.main_metric == "mae" and t.cv is None and t.family == "devi2024"
        assert "npj Comput. Mater. 10, 300 (2024)" in t.citation and "data:" in t.citation
    assert tasks["devi2024-gv"].target == "log10 G_VRH (scaled)"


def test_declared_files_are_every_file_but_the_mp_cor_copies(data_dir):
    declared = Counter(f for code in POOL_SIZES for f in get_task(f"devi2024-{code}").files)
    assert max(declared.values()) == 1
    on_disk = {str(p.relative_to(data_dir)) for p in (data_dir / ROOT).rglob("*.json.gz")}
    assert on_disk - set(declared) == {f"{ROOT}/jarvis2d/MP_cor_jarvis_2d_std_90_10.json.gz",
                                       f"{ROOT}/jarvis2d/MP_cor_jarvis_2d_std_10_test.json.gz"}
    assert set(declared) <= on_disk


def test_test_and_pool_sizes(loaded):
    for code, n in TEST_SIZES.items():
        assert len(loaded[code].groups["test"]) == n, code
    for code, n in POOL_SIZES.items():
        assert len(loaded[code].groups["pool"]) == n, code
        assert len(set(loaded[code].groups["pool"])) == n
    for code in TEST_SIZES:  # every record is in exactly one of test and pool
        data = loaded[code]
        assert set(data.groups["pool"]) | set(data.groups["test"]) == set(data.ids)


def test_test_sizes_match_the_reference_metrics(data_dir):
    path = data_dir.parent / "reference" / "devi2024_test_metrics.csv"
    if not path.exists():
        pytest.skip("reference metrics not found")
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    for code, target in REFERENCE_TARGETS.items():
        n_test = Counter(int(r["n_test"]) for r in rows if r["target"] == target)
        assert n_test.most_common(1)[0][0] == TEST_SIZES[code], (code, n_test)


def test_every_ft_subset_size_and_train_val_in_file_order(loaded):
    for code in FT_TARGETS:
        task, data = get_task(f"devi2024-{code}"), loaded[code]
        pool, test = set(data.groups["pool"]), set(data.groups["test"])
        assert not pool & test
        for n in FT_SIZES:
            for trial in range(1, 6):
                group = data.groups[f"ft_{n}_t{trial}"]
                assert len(group) == len(set(group)) == n
                split = task.split.assign(data, ft_size=n, trial=trial)
                n_val = max(1, round(0.1 * n))
                assert len(split["train"]) == n - n_val and len(split["val"]) == n_val
                assert split["train"] + split["val"] == group  # file order
                assert split["test"] == data.groups["test"]
                assert set(group) <= pool
                assert not (set(split["train"]) | set(split["val"])) & test
    split = get_task("devi2024-pz").split.assign(loaded["pz"], ft_size=800, trial=3)
    assert (len(split["train"]), len(split["val"])) == (720, 80)
    split = get_task("devi2024-pz").split.assign(loaded["pz"], ft_size=10, trial=5)
    assert (len(split["train"]), len(split["val"])) == (9, 1)


def test_without_ft_size_the_whole_pool_is_split_in_order(loaded):
    for code in (*FT_TARGETS, "2d"):
        data = loaded[code]
        split = get_task(f"devi2024-{code}").split.assign(data)
        assert split["train"] + split["val"] == data.groups["pool"]
        assert len(split["val"]) == round(0.1 * len(data.groups["pool"]))
    split = get_task("devi2024-2d").split.assign(loaded["2d"])
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (894, 99, 110)



def test_two_d_subsets_are_drawn_from_the_pool_nested_per_trial_never_from_test(loaded):
    split, data = get_task("devi2024-2d").split, loaded["2d"]
    pool, test = set(data.groups["pool"]), set(data.groups["test"])
    draws = {(n, t): split.assign(data, ft_size=n, trial=t) for n in (100, 800) for t in (1, 2, 3)}
    for (n, t), d in draws.items():
        chosen = d["train"] + d["val"]
        assert len(chosen) == n == len(set(chosen)) and set(chosen) <= pool and not set(chosen) & test
        assert set(d["test"]) == test and len(d["val"]) == round(0.1 * n)
        assert split.assign(data, ft_size=n, trial=t) == d  # deterministic
    for t in (1, 2, 3):
        assert set(draws[100, t]["train"] + draws[100, t]["val"]) < set(draws[800, t]["train"] + draws[800, t]["val"])
    assert draws[100, 1]["train"] != draws[100, 2]["train"]
    with pytest.raises(ValueError, match="trial must be in 1..3"):
        split.assign(data, ft_size=100, trial=4)


def test_bg_fe_hold_out_ten_percent_of_the_pool(loaded):
    for code, n in (("bg", 940), ("fe", 874)):
        task, data = get_task(f"devi2024-{code}"), loaded[code]
        assert len(data.groups["pt_1000"]) == 1000
        test = data.groups["test"]
        assert len(test) == n and set(test) <= set(data.groups["pool"])
        split = task.split.assign(data)
        assert split["test"] == test
        assert not (set(split["train"]) | set(split["val"])) & set(test)
        assert len(split["train"]) + len(split["val"]) + n == POOL_SIZES[code]
        assert task.split.pool(data) == data.groups["pool"]  # pre-training keeps the whole union
        with pytest.raises(ValueError, match="drop --ft-size"):
            task.split.assign(data, ft_size=100, trial=1)
    assert digest(loaded["bg"].groups["test"]) == BG_HOLDOUT_HASH
    # bg trial 2, size 800: the "_new" file (the multiprop copy) is the subset, the original is kept aside
    assert len(loaded["bg"].groups["ft_800_t2"]) == len(loaded["bg"].groups["ft_800_t2_orig"]) == 800


def test_split_membership_is_pinned(loaded):
    # Changing these hashes changes every published devi2024 result: only on purpose, with a new task version.
    assert digest(loaded["gv"].groups["test"]) == GV_TEST_HASH
    assert digest(loaded["pz"].groups["test"]) == PZ_TEST_HASH
    assert digest(loaded["pz"].groups["ft_800_t1"]) == PZ_FT800_T1_HASH


def test_multiprop_copies_equal_the_pairwise_files(data_dir, loaded):
    for code in (*FT_TARGETS, "bg", "fe"):
        groups = loaded[code].groups
        for n in FT_SIZES:
            for trial in range(1, 6):
                rows = read_rows(data_dir / ROOT / f"multiprop/{code}/mp_{code}_trial{trial}_{n}.json.gz")
                assert [f"{code}-{r['jid']}" for r in rows] == groups[f"ft_{n}_t{trial}"], (code, n, trial)
    for code in FT_TARGETS:
        copy = read_rows(data_dir / ROOT / f"multiprop/{code}/mp-{code}-multi-test.json.gz")
        test = read_rows(data_dir / ROOT / f"test/{code}_std_10_test.json.gz")
        assert [r["jid"] for r in copy] == [r["jid"] for r in test]
        assert [r["target"] for r in copy] == [r["target"] for r in test]


def test_mp_cor_2d_files_are_the_plain_ones_in_multiprop_format(data_dir):
    for part in ("90_10", "10_test"):
        plain = read_rows(data_dir / ROOT / f"jarvis2d/jarvis_2d_std_{part}.json.gz")
        cor = read_rows(data_dir / ROOT / f"jarvis2d/MP_cor_jarvis_2d_std_{part}.json.gz")
        assert [(r["jid"], r["target"], r["atoms"]) for r in plain] == [(r["jid"], r["target"], r["atoms"]) for r in cor]
        assert all(r["prop_list"] == [r["target"]] for r in cor)


def test_records_are_jarvis_dicts_with_scaled_targets(loaded):
    for code, data in loaded.items():
        r = next(iter(data.records.values()))
        assert r.fmt == "jarvis" and {"lattice_mat", "coords", "elements"} <= set(r.structure)
        assert all(r.id.startswith(f"{code}-") for r in data.records.values())
        assert all(-1.0 <= r.target <= 1.0 for r in data.records.values())


def test_a_jid_with_two_targets_is_an_error(tmp_path):
    def write(name, rows):
        with gzip.open(tmp_path / name, "wt") as fh:
            json.dump(rows, fh)

    atoms = {"lattice_mat": [[3, 0, 0], [0, 3, 0], [0, 0, 3]], "coords": [[0, 0, 0]], "elements": ["Na"],
             "cartesian": False}
    write("a.json.gz", [{"jid": 7, "target": 0.5, "atoms": atoms}])
    write("b.json.gz", [{"jid": 7, "target": [0.5], "atoms": atoms, "prop_list": [0.5]}])
    write("c.json.gz", [{"jid": 7, "target": 0.25, "atoms": atoms}])
    write("t.json.gz", [{"jid": 8, "target": -0.5, "atoms": atoms}])
    records, groups = collect("xx", tmp_path, [("a.json.gz", "pool", "ft_1_t1"), ("b.json.gz", "pool", None),
                                               ("t.json.gz", "test", None)])
    assert list(records) == ["xx-7", "xx-8"] and records["xx-7"].target == 0.5  # [0.5] unwrapped, same material
    assert groups == {"ft_1_t1": ["xx-7"], "pool": ["xx-7"], "test": ["xx-8"]}
    with pytest.raises(ValueError, match=r"jid 7 has target 0.5 in a.json.gz but 0.25 in c.json.gz"):
        collect("xx", tmp_path, [("a.json.gz", "pool", None), ("c.json.gz", "pool", None)])


def test_pretraining_ids(loaded):
    pz, data = get_task("devi2024-pz"), loaded["pz"]
    a = pretraining_ids(pz, data, 941 - 94, seed=0)
    assert sorted(a) == sorted(data.groups["pool"])
    first = pretraining_ids(pz, data, 500, seed=0)
    assert first == pretraining_ids(pz, data, 500, seed=0) == a[:500]  # deterministic, nested
    assert first != pretraining_ids(pz, data, 500, seed=1)
    assert pretraining_ids(pz, data, "all", seed=0) == data.groups["pool"]
    with pytest.raises(ValueError, match="larger than the pre-training pool"):
        pretraining_ids(pz, data, 941, seed=0)
    with pytest.raises(ValueError, match="only the BG and FE"):
        pretraining_ids(pz, data, "1000", seed=0)
    for code in FT_TARGETS[:1] + ("ebg",):
        task = get_task(f"devi2024-{code}")
        ids = pretraining_ids(task, loaded[code], 941, seed=3)
        assert len(set(ids)) == 941 and not set(ids) & set(loaded[code].groups["test"])
        assert ids != pretraining_ids(task, loaded[code], 941, seed=4)
    for code in ("bg", "fe"):
        task = get_task(f"devi2024-{code}")
        assert pretraining_ids(task, loaded[code], "1000", seed=0) == loaded[code].groups["pt_1000"]
        assert len(pretraining_ids(task, loaded[code], "all", seed=0)) == POOL_SIZES[code]
        assert len(pretraining_ids(task, loaded[code], 941, seed=0)) == 941


def test_load_splits_builds_graphs(data_dir, tmp_path):
    from bench.dataset import load_splits
    from bench.graphs.build import GraphParams
    from bench.graphs.cache import GraphCache

    cache = GraphCache(tmp_path, GraphParams())
    splits = load_splits(get_task("devi2024-pz"), data_dir, cache, limits={"test": 4}, ft_size=10, trial=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 9, "val": 1, "test": 4}
    assert splits["train"].graphs[0].y.shape == (1, 1)
    assert cache.misses == 14


GV_TEST_HASH = "9277c2e8502b0e6f"
PZ_TEST_HASH = "d6010356c7e7f044"
PZ_FT800_T1_HASH = "102dd109e02658bb"
BG_HOLDOUT_HASH = "175660876fe75dd5"
