"""Backbones on the leaderboard: a backbone column and filter on every task page, records without a backbone
read as ALIGNN, and baseline models (``mean``, ``composition-gbr``) shown as labelled reference rows."""

from __future__ import annotations

import hashlib
import json

import pytest

from leaderboard.build import build_site, group_runs
from leaderboard.records import load_records
from tests.leaderboard.test_build import make_record, parse, pz_records, write_records

PZ = "devi2024-pz"


def as_backbone(record: dict, backbone: str | None) -> dict:
    """The same run made with another backbone (None: an old record without the key); a run key of its own."""
    rec = json.loads(json.dumps(record))
    if backbone is None:
        rec["config"].pop("backbone")
    else:
        rec["config"]["backbone"] = backbone
    rec["run_key"] = hashlib.sha256(f"{rec['run_key']}{backbone}".encode()).hexdigest()[:12]
    rec["run_id"] = rec["run_key"] + "0" * 20
    return rec


def cgcnn_records() -> list[dict]:
    """cgcnn scratch and ptft at N = 800: worse than every ALIGNN row, ptft better than scratch."""
    return [as_backbone(make_record(PZ, strategy, 800, t, skill=skill, source=source), "cgcnn")
            for t in (1, 2) for strategy, source, skill in [("scratch", None, 0.3), ("ptft", "devi2024-fe", 0.4)]]


@pytest.fixture(scope="module")
def mixed_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbones")
    results = write_records(root / "results", pz_records() + cgcnn_records())
    build_site(results, root / "site", None)
    return root / "site"


def test_record_without_a_backbone_is_alignn(tmp_path):
    results = write_records(tmp_path / "r", [as_backbone(r, None) for r in pz_records()[:3]])
    runs = load_records(results)
    assert [r.backbone for r in runs] == ["alignn"] * 3
    assert {row.backbone for row in group_runs(runs)[PZ].rows} == {"alignn"}


def test_task_page_has_backbone_column_and_filter(mixed_site):
    html = (mixed_site / f"{PZ}.html").read_text()
    page = parse(mixed_site / f"{PZ}.html")
    assert page.headers[0] == "Backbone"
    ours = [r for r in page.rows if r["class"] == "run"]
    assert sorted({r["cells"][0] for r in ours}) == ["alignn", "cgcnn"]
    assert '<select id="backbone-filter">' in html
    assert ('<option value="all">all backbones</option><option value="alignn">alignn</option>'
            '<option value="cgcnn">cgcnn</option></select>') in html
    assert 'data-higher-is-better="false"' in html
    # the server's star is the best over every backbone: an ALIGNN row
    col = page.headers.index("N = 800")
    assert [r["cells"][0] for r in ours if "best" in r["classes"][col]] == ["alignn"]
    index = (mixed_site / "index.html").read_text()  # the transfer heatmaps stay one per backbone
    assert "img/transfer-alignn-quick.png" in index and "img/transfer-cgcnn-quick.png" in index


def baseline_records() -> list[dict]:
    """mean and composition-gbr on PZ at every FT size, made better than every ALIGNN row so that ranking them
    would put a star on them."""
    return [as_backbone(make_record(PZ, "scratch", size, t, skill=0.97), name)
            for name in ("mean", "composition-gbr") for size in (10, 100, 800) for t in (1, 2, 3)]


def test_baselines_are_reference_rows_never_ranked(tmp_path):
    results = write_records(tmp_path / "results", pz_records() + baseline_records())
    report = build_site(results, tmp_path / "site", None)
    page = parse(tmp_path / "site" / f"{PZ}.html")
    html = (tmp_path / "site" / f"{PZ}.html").read_text()
    ours = [r for r in page.rows if r["class"] == "run"]
    baselines = [r for r in page.rows if r["class"] == "baseline"]
    assert [r["cells"][:2] for r in baselines] == [["composition-gbr", "baseline: composition-gbr"],
                                                   ["mean", "baseline: mean"]]
    assert 'tbody class="baselines"' in html and "never ranked" in html
    for size in (10, 100, 800):
        col = page.headers.index(f"N = {size}")
        assert all(r["cells"][col] != "—" for r in baselines)  # shown with their numbers
        assert not any("best" in r["classes"][col] for r in baselines)
        starred = [r["cells"][1] for r in ours if "best" in r["classes"][col]]
        assert starred == ["mpt ← bg+fe+gv+ph+dc+ebg (941)"], size  # the best learned model keeps its star
    assert len(ours) == 3  # baselines are not strategies of the ranked table
    index = (tmp_path / "site" / "index.html").read_text()
    assert "baseline" not in index.split('id="tasks"', 1)[1].split("</table>", 1)[0]  # never "best"
    assert not any("transfer-mean" in p.name or "transfer-composition" in p.name for p in report.images)
    assert (tmp_path / "site" / "img" / f"{PZ}-learning-curves.png").exists()


def test_task_with_only_baselines(tmp_path):
    results = write_records(tmp_path / "results", baseline_records()[:3])
    build_site(results, tmp_path / "site", None)
    html = (tmp_path / "site" / f"{PZ}.html").read_text()
    assert "Only baseline models have records for this task so far." in html
    assert "baseline: mean" in html and "baseline: composition-gbr" not in html
    assert 'class="num best"' not in html


def test_a_foundation_trunks_own_fine_tuning_rate_is_not_another_recipe():
    """CHGNet from its shipped weights fine-tunes at the budget's rate × lr_factor with ``pretrained: True``;
    its scratch runs use the budget's rate: one recipe, so the replication claims pair them. A tuned rate is not."""
    from pathlib import Path

    from bench.foundation import FOUNDATIONS
    from leaderboard.boards import settings_fingerprint
    from leaderboard.records import Run

    def run(strategy: str, lr: float, **pretrain) -> Run:
        r = as_backbone(make_record("devi2024-dc", strategy, 800, 1, skill=0.5), "chgnet")
        r["config"]["train"] = {"epochs": 40, "lr": lr, "batch_size": 32}
        r["config"]["backbone_config"] = {"model_name": "0.3.0", "pretrained": strategy != "scratch"}
        r["config"]["pretrain"] = pretrain
        return Run(Path("r.json"), r)

    factor = FOUNDATIONS["mptrj"].lr_factor
    scratch = settings_fingerprint(run("scratch", 2e-3))
    assert settings_fingerprint(run("ptft", 2e-3 * factor, source="mptrj")) == scratch
    assert settings_fingerprint(run("ptft", 5e-4, source="mptrj")) != scratch  # another rate: another recipe
    assert settings_fingerprint(run("scratch", 2e-3 * factor)) != scratch
