"""The paper's reference table ships with the project, pinned by hash, and the built site leaks no local paths."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from leaderboard import reference
from leaderboard.build import DEFAULT_REFERENCE, build_site
from leaderboard.reference import SHIPPED, SHIPPED_SHA256, load_reference

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "devi2024_test_metrics.csv"


def test_shipped_table_is_the_default_and_matches_its_pin():
    assert DEFAULT_REFERENCE == SHIPPED and SHIPPED.exists()
    assert hashlib.sha256(gzip.decompress(SHIPPED.read_bytes())).hexdigest() == SHIPPED_SHA256
    rows = load_reference(SHIPPED)
    assert {"devi2024-pz", "devi2024-dc", "devi2024-2d"} <= set(rows)


@pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not found")
def test_shipped_table_equals_the_shared_one():
    assert hashlib.sha256(SHARED.read_bytes()).hexdigest() == SHIPPED_SHA256
    ours, theirs = load_reference(SHIPPED), load_reference(SHARED)
    assert {t: [(r.label, r.values) for r in rows] for t, rows in ours.items()} == \
           {t: [(r.label, r.values) for r in rows] for t, rows in theirs.items()}


def test_edited_shipped_table_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "paper" / SHIPPED.name
    fake.parent.mkdir()
    text = gzip.decompress(SHIPPED.read_bytes()).replace(b"0.052594", b"0.012594", 1)
    fake.write_bytes(gzip.compress(text))
    monkeypatch.setattr(reference, "SHIPPED", fake.resolve())
    with pytest.raises(ValueError, match="pinned sha256"):
        load_reference(fake)


def test_site_prints_no_absolute_paths(tmp_path):
    results = tmp_path / "private-home" / "results"
    shutil.copytree(Path(reference.__file__).parent / "results", results)
    build_site(results, tmp_path / "site", SHIPPED)
    html = (tmp_path / "site" / "index.html").read_text()
    assert "private-home" not in html and str(tmp_path) not in html
    assert "paper reference: <code>leaderboard/paper/devi2024_test_metrics.csv.gz</code>" in html
