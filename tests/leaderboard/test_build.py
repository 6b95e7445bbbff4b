"""The static leaderboard: built from synthetic records shaped exactly like ``bench/run.py``'s result dict."""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bench.metrics import evaluate
from bench.records import record_name
from leaderboard.build import build_site
from leaderboard.records import RecordError, load_records

PZ_SIZES = (10, 100, 800)
TRIALS = (1, 2, 3)
REAL_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "devi2024_test_metrics.csv"
MPT_PZ = ["devi2024-bg", "devi2024-fe", "devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-ebg"]


def _stable_hash(*parts) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:16], 16)


def make_record(task: str, strategy: str, ft_size: int | None, trial: int, *, skill: float, main_metric="mae",
                source: str | None = None, sources: list[str] | None = None, ft_mode: str = "all",
                budget: str = "quick", seed: int = 0, n_test: int = 94, n_pool: int = 900, gpu: bool = False):
    """One record, key for key what ``run_benchmark`` writes to result.json (and logs as record.json)."""
    rng = np.random.default_rng(_stable_hash(task, strategy, source, ft_size, trial, ft_mode) % 2**32)
    test_ids = [f"{task}-{i:04d}" for i in range(n_test)]
    y_true = np.random.default_rng(7).uniform(-1, 1, n_test)  # the same test set for every run of the task
    y_pred = skill * y_true + rng.normal(0, 0.5 * (1 - skill) + 0.02, n_test)
    metrics = evaluate(y_true, y_pred)
    n_train = ft_size or n_pool
    if strategy == "scratch":
        pretrain, ft_mode = {}, "all"
    elif strategy == "ptft":
        pretrain = {"source": source, "pt_size": 941}
    else:
        pretrain = {"sources": sources, "pt_size": 941, "weighting": "equal"}
    config = {"task": task, "strategy": strategy, "budget": budget, "seed": seed, "backbone": "alignn",
              "split": {"ft_size": ft_size, "trial": trial, "fold": None}, "pretrain": pretrain, "ft_mode": ft_mode,
              "backbone_config": {"alignn_layers": 2, "gcn_layers": 2, "hidden": 64, "embedding": 32},
              "train": {"epochs": 40, "batch_size": 32, "lr": 0.002, "weight_decay": 1e-05, "loss": "mse",
                        "patience": 15, "select": "best", "seed": seed, "device": "cuda" if gpu else "cpu",
                        "checkpoint_every_s": 300.0},
              "data_limits": {"train": None, "val": None, "test": None},
              "graph": {"cutoff": 8.0, "max_neighbors": 12}}
    key = f"{_stable_hash(task, strategy, source, ft_size, trial, ft_mode, budget, seed) % 16**12:012x}"
    hardware = {"platform": "Linux-6.1.0-x86_64-with-glibc2.36", "cpu": "AMD EPYC 7B13", "cpu_count": "2",
                "torch_threads": "2", "allocator": "tcmalloc"} | ({"gpu": "NVIDIA H100 80GB HBM3"} if gpu else {})
    return {"run_id": f"{key}{'0' * 20}", "run_key": key, "test_metrics": metrics,
            "wall_seconds": 60.0 + n_train * 0.3 + trial, "train_seconds": 50.0 + n_train * 0.3,
            "config": config, "data_hash": "ab" * 32, "strategy_info": {"pretrain_key": "c0ffee"} if pretrain else {},
            "n_parameters": 141_057, "best_val_mae": metrics["mae"] * 1.05, "best_epoch": 31, "epochs_run": 40,
            "split_ids": {"train": [f"tr{i}" for i in range(n_train)], "val": [f"va{i}" for i in range(100)],
                          "test": test_ids},
            "git_commit": "45b0bd2c0ffee45b0bd2c0ffee45b0bd2c0ffee4",
            "task_info": {"target": "max_piezo_modulus" if task.endswith("pz") else "target",
                          "units": "scaled", "main_metric": main_metric, "family": "devi2024"},
            "test_predictions": {"y_true": [float(v) for v in y_true], "y_pred": [float(v) for v in y_pred]},
            "versions": {"python": "3.11.9", "torch": "2.13.0", "torch-geometric": "2.7.0", "pymatgen": "2025.1.9",
                         "numpy": "2.4.6", "mlflow": "3.17.2", "optuna": "4.5.0", "tl-bench": "0.1.0"},
            "hardware": hardware, "finished_at": 1_760_000_000.0 + trial}


def pz_records() -> list[dict]:
    """devi2024-pz: scratch / ptft (FE) / mpt at FT sizes 10, 100, 800, three trials; mpt is best at 800."""
    out = []
    for size in PZ_SIZES:
        base = {10: 0.2, 100: 0.45, 800: 0.6}[size]
        for trial in TRIALS:
            j = 0.01 * trial
            out.append(make_record("devi2024-pz", "scratch", size, trial, skill=base + j))
            out.append(make_record("devi2024-pz", "ptft", size, trial, skill=base + 0.1 + j, source="devi2024-fe"))
            out.append(make_record("devi2024-pz", "mpt", size, trial, skill=base + 0.2 + j, sources=MPT_PZ))
    return out


def gv_records() -> list[dict]:
    """A task whose main metric is R² (higher is better), on a GPU, plus a frozen-trunk mode."""
    out = []
    for size in (100, 800):
        for trial in (1, 2):
            out.append(make_record("devi2024-gv", "scratch", size, trial, skill=0.5, main_metric="r2", gpu=True))
            out.append(make_record("devi2024-gv", "ptft", size, trial, skill=0.75, main_metric="r2", gpu=True,
                                   source="devi2024-fe", ft_mode="last-layer"))
            out.append(make_record("devi2024-gv", "ptft", size, trial, skill=0.7, main_metric="r2", gpu=True,
                                   source="devi2024-bg"))
    return out


def write_records(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rec in records:
        (folder / record_name(rec)).write_text(json.dumps(rec, indent=2))
    return folder


def write_reference(path: Path) -> Path:
    """A small csv shaped like ../shared/reference/devi2024_test_metrics.csv (main + ood_2d + an ignored study)."""
    cols = ["study", "strategy", "pt_source", "pt_size", "ft_mode", "target", "ft_size", "trial", "n_test",
            "mae_norm", "rmse_norm", "r2", "source"]
    rows = []
    for size, trial in [(s, t) for s in (10, 200, 800) for t in (1, 2, 3, 4, 5)]:
        for strategy, src, psize, mode, mae in [("scratch", "", "", "", 0.08), ("ptft", "FE", "941", "ALL-UF", 0.07),
                                                ("mpt", "MPT", "all-other-six", "ALL-UF", 0.065)]:
            value = mae + 0.001 * trial + (0.02 if size == 10 else 0)
            rows.append(["main", strategy, src, psize, mode, "PZ", size, trial, 94, value, value * 4, 0.01 * trial,
                         "x.csv"])
    rows.append(["ft_strategy", "ptft", "BG", "941", "NPH", "PZ", 800, 1, 94, 0.5, 0.9, -3.0, "x.csv"])
    rows.append(["ood_2d", "scratch", "", "", "", "JARVIS_2D_GAP", 0, 1, 110, 0.1475, 0.23, 0.636, "x.csv"])
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        writer.writerows(rows)
    return path


class _Page(HTMLParser):
    """Rows of #leaderboard (class, cell texts, cell classes) and every <img src>."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self.headers = [], [], []
        self._in_td = self._in_th = False
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "tr":
            self._row = {"class": a.get("class", ""), "cells": [], "classes": []}
        elif tag == "td" and self._row is not None:
            self._in_td = True
            self._row["cells"].append("")
            self._row["classes"].append(a.get("class", ""))
        elif tag == "th":
            self._in_th = True
            self.headers.append("")
        elif tag == "details":  # metadata: keep only the summary text in the cell
            self._in_td = False

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self.rows.append(self._row)
            self._row = None
        elif tag == "td":
            self._in_td = False
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_td and self._row is not None:
            self._row["cells"][-1] += data
        if self._in_th:
            self.headers[-1] += data


def parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text())
    return p


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    results = write_records(root / "results", pz_records() + gv_records())
    reference = write_reference(root / "reference.csv")
    report = build_site(results, root / "site", reference)
    return {"root": root, "results": results, "out": root / "site", "report": report}


def test_builds_index_and_task_pages(site):
    out = site["out"]
    assert site["report"].n_records == 27 + 12
    index = (out / "index.html").read_text()
    for task in ("devi2024-pz", "devi2024-gv", "devi2024-2d"):
        assert f'href="{task}.html"' in index and (out / f"{task}.html").exists()
    assert 'id="tasks"' in index and "<script>" in index


def test_pz_table_rows_columns_and_mean_std(site):
    page = parse(site["out"] / "devi2024-pz.html")
    assert page.headers[:3] == ["Backbone", "Strategy", "Budget"]
    assert [h for h in page.headers if h.startswith("N = ")] == ["N = 10", "N = 100", "N = 200", "N = 800"]
    ours = [r for r in page.rows if r["class"] == "run"]
    labels = [r["cells"][1] for r in ours]
    assert labels == ["scratch", "ptft ← devi2024-fe (941)", "mpt ← bg+fe+gv+ph+dc+ebg (941)"]
    # the cell is mean ± std over the three trials of the main metric (MAE)
    recs = [r for r in pz_records() if r["config"]["strategy"] == "scratch" and r["config"]["split"]["ft_size"] == 100]
    maes = [r["test_metrics"]["mae"] for r in recs]
    expected = f"{statistics.fmean(maes):.4g} ± {statistics.stdev(maes):.2g}"
    col = page.headers.index("N = 100")
    assert ours[0]["cells"][col].startswith(expected)
    assert ours[0]["cells"][col].endswith("n=3")
    assert ours[0]["cells"][page.headers.index("N = 200")] == "—"  # only the paper has N = 200


def test_best_per_column_highlighted(site):
    page = parse(site["out"] / "devi2024-pz.html")
    ours = [r for r in page.rows if r["class"] == "run"]
    for size in PZ_SIZES:
        col = page.headers.index(f"N = {size}")
        best = [r["cells"][1] for r in ours if "best" in r["classes"][col].split()]
        means = {r["cells"][1]: float(r["cells"][col].split(" ± ")[0]) for r in ours}
        assert best == [min(means, key=means.get)], size  # MAE: lower is better
    assert all("best" not in c for r in page.rows if r["class"] == "paper" for c in r["classes"])
    # R²: higher is better
    gv = parse(site["out"] / "devi2024-gv.html")
    col = gv.headers.index("N = 800")
    rows = [r for r in gv.rows if r["class"] == "run"]
    best = [r["cells"][1] for r in rows if "best" in r["classes"][col].split()]
    assert best == ["ptft ← devi2024-fe (941) · last-layer"]


def test_paper_reference_rows_for_pz(site):
    page = parse(site["out"] / "devi2024-pz.html")
    paper = [r for r in page.rows if r["class"] == "paper"]
    assert [r["cells"][1] for r in paper] == ["paper: scratch", "paper: ptft ← devi2024-fe (941)",
                                              "paper: mpt (other six properties)"]
    col = page.headers.index("N = 800")
    vals = [0.08 + 0.001 * t for t in (1, 2, 3, 4, 5)]
    assert paper[0]["cells"][col].startswith(f"{statistics.fmean(vals):.4g} ± {statistics.stdev(vals):.2g}")
    assert paper[0]["cells"][page.headers.index("N = 100")] == "—"
    html = (site["out"] / "devi2024-pz.html").read_text()
    assert 'tbody class="reference"' in html and "NPH" not in html  # ft_strategy study left out
    two_d = parse(site["out"] / "devi2024-2d.html")
    assert [r["cells"][1] for r in two_d.rows if r["class"] == "paper"] == ["paper: scratch"]
    assert "N = full" in two_d.headers


def test_row_metadata(site):
    html = (site["out"] / "devi2024-pz.html").read_text()
    for text in ("AMD EPYC 7B13", "tcmalloc", "no GPU", "quick: 40 epochs, batch 32", "torch 2.13.0",
                 "45b0bd2c0ffee", "wall time", "141,057 parameters"):
        assert text in html, text
    assert "GPU NVIDIA H100" in (site["out"] / "devi2024-gv.html").read_text()


def test_referenced_plots_exist(site):
    out = site["out"]
    for page_name in ("index.html", "devi2024-pz.html", "devi2024-gv.html", "devi2024-2d.html"):
        page = parse(out / page_name)
        assert page.images, page_name
        for src in page.images:
            assert not src.startswith(("/", "http", "data:")), src  # relative: works from file://
            png = out / src
            assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
            assert png.stat().st_size > 5000, src
    pz = parse(out / "devi2024-pz.html").images
    assert any("learning-curves" in s for s in pz) and any("parity" in s for s in pz)
    index = parse(out / "index.html").images
    assert any("transfer-alignn-quick" in s for s in index) and any("transfer-paper" in s for s in index)


def test_rebuild_replaces_old_files(site, tmp_path):
    out = site["out"]
    stale = out / "img" / "stale.png"
    stale.write_bytes(b"x")
    build_site(site["results"], out, None)
    assert not stale.exists()
    assert "paper:" not in (out / "devi2024-pz.html").read_text()  # no reference csv this time
    assert not (out / "devi2024-2d.html").exists()


def _build_fails(tmp_path, name: str, content: str) -> str:
    results = write_records(tmp_path / "results", pz_records()[:3])
    (results / name).write_text(content)
    with pytest.raises(RecordError) as err:
        build_site(results, tmp_path / "site", None)
    assert not (tmp_path / "site").exists()  # nothing written
    return str(err.value)


def test_bad_json_names_the_file(tmp_path):
    msg = _build_fails(tmp_path, "broken.json", '{"run_key": "x",')
    assert "broken.json" in msg and "not valid JSON" in msg


def test_missing_key_names_file_and_key(tmp_path):
    rec = pz_records()[0]
    del rec["task_info"]
    del rec["config"]["split"]["ft_size"]
    msg = _build_fails(tmp_path, "incomplete.json", json.dumps(rec))
    assert "incomplete.json" in msg
    assert "missing key 'task_info'" in msg and "missing key 'config.split.ft_size'" in msg


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r.update(wall_seconds="slow"), "'wall_seconds' should be a number, got a string"),
    (lambda r: r["test_predictions"]["y_pred"].pop(), "94 y_true but 93 y_pred"),
    (lambda r: r["test_metrics"].pop("mae"), "lacks the task's main metric 'mae'"),
    (lambda r: r["config"].update(seed=True), "'config.seed' should be an integer, got a boolean"),
])
def test_wrong_types_name_the_problem(tmp_path, mutate, expected):
    rec = pz_records()[0]
    mutate(rec)
    msg = _build_fails(tmp_path, "odd.json", json.dumps(rec))
    assert "odd.json" in msg and expected in msg


def test_top_level_not_an_object(tmp_path):
    msg = _build_fails(tmp_path, "list.json", "[1, 2]")
    assert "list.json" in msg and "should be a JSON object" in msg


def test_duplicate_runs_counted_once(tmp_path):
    rec = pz_records()[0]
    results = write_records(tmp_path / "r", [rec])
    (results / "copy.json").write_text(json.dumps(rec))
    assert len(load_records(results)) == 1


def test_runs_with_other_settings_get_their_own_row(tmp_path):
    tuned = make_record("devi2024-pz", "scratch", 10, 1, skill=0.9)
    tuned["config"]["train"]["lr"] = 0.0005
    tuned["run_key"] = "0123456789ab"
    results = write_records(tmp_path / "results", pz_records() + [tuned])
    build_site(results, tmp_path / "site", None)
    labels = [r["cells"][1] for r in parse(tmp_path / "site" / "devi2024-pz.html").rows if r["class"] == "run"]
    assert len([x for x in labels if x.startswith("scratch · settings ")]) == 2 and len(labels) == 4


def test_cli_build_and_malformed_error(tmp_path):
    from typer.testing import CliRunner

    from bench.cli_leaderboard import leaderboard_app

    results = write_records(tmp_path / "results", pz_records())
    runner = CliRunner()
    ok = runner.invoke(leaderboard_app, ["build", "--results", str(results), "--out", str(tmp_path / "site"),
                                         "--reference", str(write_reference(tmp_path / "ref.csv"))])
    assert ok.exit_code == 0, ok.output
    assert "27 record(s)" in ok.output and (tmp_path / "site" / "index.html").exists()
    (results / "zz-bad.json").write_text("{not json")
    bad = runner.invoke(leaderboard_app, ["build", "--results", str(results), "--out", str(tmp_path / "s2")])
    assert bad.exit_code == 2
    assert "zz-bad.json" in bad.output and "not valid JSON" in bad.output


def test_empty_results_with_reference_builds_paper_pages(tmp_path):
    (tmp_path / "results").mkdir()
    report = build_site(tmp_path / "results", tmp_path / "site", write_reference(tmp_path / "ref.csv"))
    assert report.n_records == 0 and "devi2024-pz" in report.tasks
    html = (tmp_path / "site" / "devi2024-pz.html").read_text()
    assert "No result records for this task yet" in html and "paper: scratch" in html


@pytest.mark.skipif(not REAL_REFERENCE.exists(), reason=f"{REAL_REFERENCE} not found")
def test_real_reference_rows_for_pz(tmp_path):
    results = write_records(tmp_path / "results", pz_records())
    build_site(results, tmp_path / "site", REAL_REFERENCE)
    page = parse(tmp_path / "site" / "devi2024-pz.html")
    paper = [r["cells"][1] for r in page.rows if r["class"] == "paper"]
    assert paper[0] == "paper: scratch" and paper[-1] == "paper: mpt (other six properties)"
    assert {f"paper: ptft ← devi2024-{c} (941)" for c in ("bg", "fe", "gv", "ph", "dc", "ebg")} <= set(paper)
    with open(REAL_REFERENCE) as fh:
        maes = [float(r["mae_norm"]) for r in csv.DictReader(fh)
                if (r["study"], r["strategy"], r["target"], r["ft_size"]) == ("main", "scratch", "PZ", "800")]
    assert len(maes) == 5
    row = next(r for r in page.rows if r["class"] == "paper")
    assert row["cells"][page.headers.index("N = 800")].startswith(f"{statistics.fmean(maes):.4g} ±")


def test_export_from_mlflow(tmp_path):
    from bench.cli_leaderboard import export_records
    from bench.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    rec = pz_records()[0]
    for name, status, with_record in [("done", "FINISHED", True), ("no-record", "FINISHED", False),
                                      ("killed", "KILLED", True)]:
        tracker.start("devi2024-pz", name)
        if with_record:
            tracker.log_json(rec, "record.json")
        tracker.finish(status)
    tracker.start("devi2024-pz", "tuning-trial", tags={"optuna.study": "s", "optuna.trial_number": "0"})
    tracker.log_json(pz_records()[2], "record.json")
    tracker.finish("FINISHED")
    tracker.start("other-task", "done-elsewhere")
    tracker.log_json(pz_records()[1], "record.json")
    tracker.finish("FINISHED")
    written, skipped = export_records(uri, "devi2024-pz", tmp_path / "out")
    assert [p.name for p in written] == [record_name(rec)]
    assert json.loads(written[0].read_text()) == rec
    assert len(skipped) == 2
    assert any(s.endswith("has no record.json artifact") for s in skipped)
    assert any(s.endswith("is a hyper-parameter tuning trial") for s in skipped)
    written, _ = export_records(uri, None, tmp_path / "all")
    assert len(written) == 2
    with pytest.raises(KeyError, match="no MLflow experiment 'nope'"):
        export_records(uri, "nope", tmp_path / "x")
