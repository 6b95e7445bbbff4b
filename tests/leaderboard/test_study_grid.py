"""leaderboard/studies/paper_study/grid.py: a study cell is done exactly when ``bench sweep`` would skip it."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "leaderboard" / "results"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("study_grid", REPO / "leaderboard/studies/paper_study/grid.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_committed_record_marks_its_cell_done_and_no_other(study, data_dir, tmp_path):
    block = next(b for b in study.BLOCKS if b.name == "cgcnn-scratch")
    block = type(block)(**{**block.__dict__, "tasks": ("dc",)})
    [empty] = study.status(block, tmp_path)
    assert (empty["done"], empty["cells"]) == (0, 3)
    assert empty["command"] == ("bench sweep --task devi2024-dc --strategies scratch --ft-sizes 800 --trials 1-3 "
                                "--backbone cgcnn --export")
    record = next(RESULTS.glob("devi2024-dc__cgcnn__scratch__quick__n800-t2__seed0__*.json"))
    shutil.copy(record, tmp_path)
    [one] = study.status(block, tmp_path)
    assert one["done"] == 1 and one["missing"] == ["scratch n=800 t1", "scratch n=800 t3"]
    # the same record does not count for another backbone's, strategy's or mode's cell
    other = next(b for b in study.BLOCKS if b.name == "schnet-scratch")
    assert study.status(type(other)(**{**other.__dict__, "tasks": ("dc",)}), tmp_path)[0]["done"] == 0


def test_every_block_plans_and_the_cli_refuses_an_unknown_block(study, data_dir, tmp_path, capsys):
    names = [b.name for b in study.BLOCKS]
    assert len(names) == len(set(names))
    main = next(b for b in study.BLOCKS if b.name == "main")
    assert main.strategies == "scratch,ptft,mpt" and main.ft_sizes == "10,100,200,500,800" and len(main.tasks) == 5
    assert len(list(study.cells(main, "pz", 0))) == 4 * 5 * 3  # scratch, ptft FE, ptft BG, mpt
    assert study.main(["--results", str(tmp_path), "--block", "chgnet-all-2d"]) == 0
    assert "0 of 1 cells have a committed record." in capsys.readouterr().out
    assert study.main(["--block", "nope"]) == 2 and "unknown block(s) nope" in capsys.readouterr().err
    assert study.main(["--results", str(tmp_path / "typo")]) == 2 and "typo does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def r2_table():
    spec = importlib.util.spec_from_file_location("r2_table", REPO / "leaderboard/studies/paper_study/r2_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_best_r2_is_computed_from_the_shipped_table_as_the_issue_quotes_it(r2_table, capsys):
    module = r2_table
    best = {t.removeprefix("devi2024-"): round(v, 3) for t, (v, _) in module.paper_best().items()}
    assert best == {"gv": 0.774, "ph": 0.979, "dc": 0.697, "ebg": 0.508, "pz": 0.014, "2d": 0.671}
    assert module.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| target | scratch |") and "| devi2024-ph | " in out and "(goal: 4 of 6)" in out


def test_r2_table_reads_2d_on_the_whole_pool_only(r2_table, tmp_path):
    from tests.leaderboard.test_build import make_record, write_records

    module = r2_table
    full = make_record("devi2024-2d", "scratch", None, 1, skill=0.9)
    subsets = [make_record("devi2024-2d", "scratch", n, t, skill=0.2) for n in (100, 800) for t in (1, 2)]
    gv = [make_record("devi2024-gv", "scratch", n, 1, skill=0.5) for n in (500, 800)]
    full_seed1 = make_record("devi2024-2d", "scratch", None, 1, skill=0.8, seed=1)
    gv_seed1 = make_record("devi2024-gv", "scratch", 800, 1, skill=0.1, seed=1)
    ours = module.ours(write_records(tmp_path, [full, full_seed1, *subsets, *gv, gv_seed1]))
    # N = 800 subsets are not more trials of the whole pool; its seeds are (a subset's seeds are not)
    assert sorted(ours["devi2024-2d"]["scratch"]) == sorted([full["test_metrics"]["r2"],
                                                             full_seed1["test_metrics"]["r2"]])
    assert ours["devi2024-gv"]["scratch"] == [gv[1]["test_metrics"]["r2"]]


def test_curves_table_prints_ours_beside_the_papers(capsys):
    spec = importlib.util.spec_from_file_location("curves_table", REPO / "leaderboard/studies/paper_study/curves_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.paper()[("devi2024-dc", 10, "scratch")] > 1.0  # the paper's scratch at N = 10 (its table)
    assert module.main([]) == 0
    out = capsys.readouterr().out
    assert "| DC | 800 | " in out and "in-domain cells with all four strategies." in out
