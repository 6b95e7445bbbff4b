"""leaderboard/studies/backbones/table.py: paired differences and each backbone's best arm."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("backbones_table", REPO / "leaderboard/studies/backbones/table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows_of(**cells):
    """{(task, backbone, arm): {trial: (mae, r2)}} from keyword cells ``backbone__arm=[mae per trial]``."""
    out = {}
    for key, maes in cells.items():
        backbone, arm = key.split("__")
        out[("devi2024-dc", backbone, arm.replace("_", "-"))] = {t + 1: (m, 0.5) for t, m in enumerate(maes)}
    return out


def test_delta_pairs_only_common_trials(table):
    rows = rows_of(chgnet__scratch=[0.10, 0.20], chgnet__ptft_mptrj=[0.08, 0.25, 0.01])
    assert table.delta(rows, ("devi2024-dc", "chgnet", "ptft-mptrj"), ("devi2024-dc", "chgnet", "scratch")) == \
        "Δ +0.0150 (1/2 better)"  # trial 3 has no scratch partner: left out, not averaged in
    assert table.delta(rows, ("devi2024-dc", "chgnet", "ptft-mptrj"), ("devi2024-dc", "cgcnn", "scratch")) == "—"


def test_best_arm_is_the_lowest_mean_and_scratch_can_win(table):
    rows = rows_of(alignn__scratch=[0.10, 0.10], alignn__mpt=[0.09, 0.12], cgcnn__scratch=[0.2])
    assert table.best_arm(rows, "devi2024-dc", "alignn") == "scratch"  # 0.100 < 0.105
    assert table.best_arm(rows, "devi2024-dc", "schnet") is None


def test_best_table_sets_each_backbone_beside_alignn_paired(table, capsys):
    rows = rows_of(alignn__mpt=[0.02, 0.03, 0.04], chgnet__scratch=[0.05, 0.05, 0.05],
                   chgnet__ptft_mptrj=[0.025, 0.025, 0.025])
    table.best_table(rows)
    dc = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| DC |"))
    assert dc.startswith("| DC | mpt: 0.0300 (0.50) | — | — | ptft-mptrj: 0.0250 (0.50), Δ -0.0050 (2/3 better)")


def test_committed_records_give_every_chgnet_arm_a_scratch_partner(table, capsys):
    table.main(REPO / "leaderboard" / "results")
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(" | ")
    assert "CHGNet scratch" in header and "CHGNet all vs new-head" in header
    dc = next(line for line in lines if line.startswith("| DC |")).split(" | ")
    chgnet_all = dc[header.index("CHGNet all")]
    assert "Δ" in chgnet_all and "better)" in chgnet_all  # paired with CHGNet scratch on DC


def test_a_missing_results_folder_is_an_error_not_an_empty_table(tmp_path):
    import subprocess

    out = subprocess.run([sys.executable, str(REPO / "leaderboard/studies/backbones/table.py"), str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "nope does not exist" in out.stderr and not out.stdout
