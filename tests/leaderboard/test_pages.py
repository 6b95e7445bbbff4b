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
