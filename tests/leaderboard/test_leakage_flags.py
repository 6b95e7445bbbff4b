"""Leakage flags on the leaderboard: runs trained on a test twin (computed from committed records' split ids at
build time, records untouched) and runs whose trunk saw the target's property."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leaderboard.build import DEFAULT_RESULTS, build_site, group_runs
from leaderboard.leakage import check_twins
from leaderboard.records import load_records

PZ = "devi2024-pz"


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    for path in DEFAULT_RESULTS.glob("*.json"):
        shutil.copyfile(path, folder / path.name)
    return folder


def test_committed_records_trained_on_pz_365_are_flagged(committed, data_dir):
    """pz-365 (pool twin of test pz-367) is in the paper's FT-800 subsets of trials 1 and 2, not 3: every PZ run
    that trained or validated on it is flagged with that pair, and no other PZ run is."""
    runs = load_records(committed)
    check = check_twins(runs, data_dir)
    flagged = sorted(Path(p).name for p in check.flagged)
    seen = lambda r: "pz-365" in r.record["split_ids"]["train"] + r.record["split_ids"]["val"]
    pz = [r for r in runs if r.task == PZ]
    expected = sorted(r.path.name for r in pz if seen(r))
    assert sorted(n for n in flagged if n.startswith(PZ)) == expected
    assert all(check.flagged[str(committed / n)] == [("pz-365", "pz-367")] for n in expected)
    at_800 = {(r.backbone, r.trial) for r in pz if seen(r) and r.ft_size == 800}
    assert {t for b, t in at_800 if b == "alignn"} == {1, 2} and len([r for r in pz if r.ft_size == 800
                                                                      and r.backbone == "alignn" and seen(r)]) >= 8
    # other targets' flagged records (every backbone and the baselines) carry that target's own pairs
    by_task = {r.path.name: r.task for r in runs}
    for name in set(flagged) - set(expected):
        pairs = check.flagged[str(committed / name)]
        task = by_task[name]
        assert {"devi2024-gv": [("gv-3517", "gv-6890")]}.get(task, pairs) == pairs and task != PZ
        assert task != "devi2024-2d" or 1 <= len(pairs) <= 25
    assert check.status[PZ] == "checked against 1 pool/test twin pair"
    assert check.status["devi2024-dc"] == "checked against 0 pool/test twin pairs"


def test_site_marks_them_and_shows_a_table_without_them(committed, tmp_path, data_dir):
    before = {p.name: p.read_bytes() for p in committed.glob("*.json")}
    build_site(committed, tmp_path / "site", None)
    assert {p.name: p.read_bytes() for p in committed.glob("*.json")} == before  # records are not rewritten
    pz = (tmp_path / "site" / f"{PZ}.html").read_text()
    # every (row, N) cell with a run that trained on pz-365 is marked; at N = 800 that is every row (2 of 3)
    runs = [r for r in load_records(committed) if r.task == PZ]
    seen = lambda r: "pz-365" in r.record["split_ids"]["train"] + r.record["split_ids"]["val"]
    key = lambda r: (r.backbone, r.strategy, str(r.pretrain.get("source")), r.ft_mode, r.pretrain.get("pt_size"),
                     r.ft_size)
    cells: dict[tuple, list] = {}
    for r in runs:
        cells.setdefault(key(r), []).append(r)
    marked = {k for k, rs in cells.items() if any(seen(r) for r in rs)}
    assert {k for k in cells if k[-1] == 800} <= marked and pz.count('class="twin"') == len(marked)
    assert "⚠ 2/3" in pz and "pz-365 (pool) ~ pz-367 (test)" in pz
    assert 'id="leaderboard-without-twins"' in pz and "Excluding runs trained on a test twin" in pz
    second = pz.split('id="leaderboard-without-twins"', 1)[1].split("</table>", 1)[0]
    gnn = lambda k: k[0] not in ("mean", "composition-gbr")
    single = [k for k, rs in cells.items() if gnn(k) and len([r for r in rs if not seen(r)]) == 1]
    assert 'class="twin"' not in second and second.count("<sup>n=1</sup>") == len(single)
    dc = (tmp_path / "site" / "devi2024-dc.html").read_text()
    assert "without-twins" not in dc and 'class="twin"' not in dc
    n_flagged = len(check_twins(load_records(committed), data_dir).flagged)
    assert f"{n_flagged} runs trained on a test twin" in (tmp_path / "site" / "index.html").read_text()


def test_a_record_may_carry_the_flag_itself(committed, tmp_path, data_dir):
    record = json.loads(next(committed.glob("devi2024-dc__scratch__*t1*.json")).read_text())
    record.pop("integrity")  # an edited record is no longer the stamped one (the validator would refuse it)
    record["leakage"] = {"trained_on_test_twin": [["dc-1", "dc-2"]]}
    record["config"]["task"] = "not-a-task"
    record["run_key"] = "feedfeedfeed"
    (tmp_path / "r.json").write_text(json.dumps(record))
    check = check_twins(load_records(tmp_path), data_dir)
    assert check.flagged[str(tmp_path / "r.json")] == [("dc-1", "dc-2")]
    assert check.status["not-a-task"].startswith("not checked")


def test_trunk_that_saw_the_target_property_gets_its_own_labelled_row(committed, tmp_path):
    src = next(committed.glob(f"{PZ}__ptft-devi2024-fe__*t1*.json"))
    shutil.copyfile(src, tmp_path / src.name)
    record = json.loads(src.read_text())
    record.pop("integrity")  # edited below: no longer the stamped record
    record["config"]["pretrain"] |= {"source": PZ, "allow_target_source": True}
    record["run_key"] = "0123456789ab"
    (tmp_path / "own.json").write_text(json.dumps(record))
    rows = group_runs(load_records(tmp_path))[PZ].rows
    labels = sorted(r.label for r in rows)
    assert labels == ["ptft ← devi2024-fe (941)", f"ptft ← {PZ} (941) · trunk saw the target's property"]


def test_run_from_a_shipped_trunk_gets_its_own_row_marked_for_test_structures(committed, tmp_path):
    """A ptft run from the shipped CHGNet/MPtrj trunk (bench.foundation): its own row, marked ⚠, described."""
    from bench.foundation import TEST_STRUCTURES_LABEL
    from leaderboard.boards import _row_identity

    src = next(committed.glob(f"{PZ}__ptft-devi2024-fe__*t1*.json"))
    record = json.loads(src.read_text())
    record.pop("integrity")
    record["config"]["pretrain"] = {"source": "mptrj", "trunk": "chgnet-0.3.0-mptrj"}
    record["strategy_info"] |= {"trunk_saw_target_property": False, "trunk_saw_test_structures": True}
    record["run_key"] = "0123456789ab"
    shutil.copyfile(src, tmp_path / src.name)
    (tmp_path / "mptrj.json").write_text(json.dumps(record))
    runs = load_records(tmp_path)
    labels = sorted(r.label for r in group_runs(runs)[PZ].rows)
    assert labels == ["ptft ← devi2024-fe (941)", f"ptft ← mptrj (shipped) · ⚠ {TEST_STRUCTURES_LABEL}"]
    shipped = next(r for r in runs if r.pretrain.get("trunk"))
    assert "may hold this task's test structures" in _row_identity(shipped)[2]
