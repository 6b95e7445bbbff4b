"""The templates escape every value: a record's text never becomes markup on the site."""

from __future__ import annotations

from leaderboard.build import build_site
from tests.leaderboard.test_build import make_record, write_records


def test_record_text_is_escaped(tmp_path):
    evil = '<b onmouseover="alert(1)">fe'  # no "/": the source is part of the record's file name
    records = [make_record("devi2024-pz", "ptft", 100, t, skill=0.5, source=evil) for t in (1, 2)]
    for r in records:
        r["hardware"]["cpu"] = '"><img src=x onerror=alert(2)>'
    build_site(write_records(tmp_path / "results", records), tmp_path / "site", None)
    html = (tmp_path / "site" / "devi2024-pz.html").read_text()
    assert evil not in html and "&lt;b onmouseover=&#34;alert(1)&#34;&gt;fe" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert html.count("<script>") == 1  # the page's own script only


def test_a_log_target_row_shows_its_back_transformed_mae(tmp_path):
    import numpy as np

    from bench.metrics import untransformed
    from leaderboard.pages import fmt

    records = []
    for t in (1, 2):
        r = make_record("devi2024-pz", "scratch", 100, t, skill=0.5)
        r["test_metrics_untransformed"] = untransformed("log10", r["test_predictions"]["y_true"],
                                                        r["test_predictions"]["y_pred"])
        r["task_info"]["untransformed_units"] = "C/m²"
        records.append(r)
    build_site(write_records(tmp_path / "results", records), tmp_path / "site", None)
    html = (tmp_path / "site" / "devi2024-pz.html").read_text()
    mean = np.mean([r["test_metrics_untransformed"]["mae"] for r in records])
    assert "test MAE back-transformed" in html and f"N = 100: {fmt(mean)} C/m² (n=2)" in html


def test_a_record_with_non_finite_back_transformed_metrics_is_refused(tmp_path):
    import pytest

    from leaderboard.records import RecordError, load_records

    r = make_record("devi2024-pz", "scratch", 100, 1, skill=0.5)
    r["test_metrics_untransformed"] = {"mae": float("inf")}
    with pytest.raises(RecordError, match="test_metrics_untransformed"):
        load_records(write_records(tmp_path / "results", [r]))
