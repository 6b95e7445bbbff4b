"""``bench leaderboard compare``: our runs beside the paper's runs on the same trials."""

from __future__ import annotations

import statistics

from typer.testing import CliRunner

from bench.cli import app
from leaderboard.compare import compare
from leaderboard.records import load_records
from tests.leaderboard.test_build import make_record, write_records, write_reference


def test_cells_pair_our_trials_with_the_papers(tmp_path):
    records = [make_record("devi2024-pz", "scratch", 800, t, skill=0.5) for t in (1, 2, 3)]
    records += [make_record("devi2024-pz", "ptft", 800, t, skill=0.6, source="devi2024-fe") for t in (2, 3)]
    records.append(make_record("devi2024-pz", "ptft", 800, 1, skill=0.6, source="devi2024-fe", ft_mode="last-layer"))
    folder = write_records(tmp_path / "results", records)
    reference = write_reference(tmp_path / "ref.csv")  # main study: mae = base + 0.001 * trial, trials 1-5

    cells = {c.label: c for c in compare(load_records(folder), reference)}
    assert set(cells) == {"scratch", "ptft ← devi2024-fe"}  # the frozen-mode run is not the paper's main study
    scratch = cells["scratch"].stats("mae")
    ours = [r["test_metrics"]["mae"] for r in records[:3]]
    paper = [0.08 + 0.001 * t for t in (1, 2, 3)]
    assert scratch["trials"] == [1, 2, 3] and scratch["n_paired"] == 3 and scratch["n_paper_all"] == 5
    assert abs(scratch["ours"][0] - statistics.fmean(ours)) < 1e-12
    assert abs(scratch["paper_same_trials"][0] - statistics.fmean(paper)) < 1e-12
    assert abs(scratch["paired_diff"][0] - statistics.fmean(o - p for o, p in zip(ours, paper))) < 1e-12
    ptft = cells["ptft ← devi2024-fe"].stats("mae")
    assert ptft["trials"] == [2, 3]
    assert abs(ptft["paper_same_trials"][0] - statistics.fmean([0.072, 0.073])) < 1e-12


def test_compare_command_prints_markdown(tmp_path):
    folder = write_records(tmp_path / "results", [make_record("devi2024-pz", "mpt", 800, 1, skill=0.7,
                                                              sources=["devi2024-fe", "devi2024-bg"])])
    reference = write_reference(tmp_path / "ref.csv")
    out = CliRunner().invoke(app, ["leaderboard", "compare", "--results", str(folder), "--reference", str(reference),
                                   "--markdown"])
    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if "devi2024-pz" in line)
    assert "| mpt |" in row and "0.0660 ± 0.0000" in row  # the paper's mpt trial 1: 0.065 + 0.001
    missing = CliRunner().invoke(app, ["leaderboard", "compare", "--results", str(folder), "--task", "piezo",
                                       "--reference", str(reference)])
    assert missing.exit_code != 0 and "no result records match" in missing.output


def test_compare_reads_the_shipped_gzipped_table():
    """The default --reference is leaderboard/paper/*.csv.gz: it was opened as plain text (a UnicodeDecodeError)."""
    from leaderboard.build import DEFAULT_REFERENCE, DEFAULT_RESULTS

    cells = compare(load_records(DEFAULT_RESULTS), DEFAULT_REFERENCE, ["devi2024-pz"])
    gnn = [c for c in cells if not c.label.startswith("baseline")]
    alignn = [c for c in gnn if " @ " not in c.label]  # other backbones' cells are "... @ cgcnn"
    assert {c.label for c in alignn} == {"scratch", "ptft ← devi2024-fe", "ptft ← devi2024-bg", "mpt"}
    assert all(c.stats("mae")["n_paper_all"] == 5 for c in alignn)
    assert all(not c.paper for c in gnn if c not in alignn)  # the paper's rows are ALIGNN's
    assert {c.label for c in cells} - {c.label for c in gnn} == {"baseline mean", "baseline composition-gbr"}
    out = CliRunner().invoke(app, ["leaderboard", "compare", "--task", "devi2024-pz", "--markdown"])
    assert out.exit_code == 0, out.output


def test_another_backbones_runs_are_their_own_cell_without_paper_rows(tmp_path):
    """A CGCNN scratch record was averaged with ALIGNN's scratch trials (and set beside the paper's ALIGNN row)."""
    from tests.leaderboard.test_build import make_record, write_records, write_reference

    alignn = make_record("devi2024-pz", "scratch", 800, 1, skill=0.5)
    cgcnn = make_record("devi2024-pz", "scratch", 800, 1, skill=0.1)
    cgcnn["config"]["backbone"], cgcnn["run_key"] = "cgcnn", "0123456789ab"
    folder = write_records(tmp_path / "results", [alignn, cgcnn])
    cells = {c.label: c for c in compare(load_records(folder), write_reference(tmp_path / "ref.csv"))}
    assert cells["scratch"].ours[1]["mae"] == alignn["test_metrics"]["mae"]
    assert cells["scratch @ cgcnn"].ours[1]["mae"] == cgcnn["test_metrics"]["mae"]
    assert cells["scratch"].paper and cells["scratch @ cgcnn"].paper == {}
