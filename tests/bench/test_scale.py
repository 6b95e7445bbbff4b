"""The scale check on a few structures: generated variants are built into a cache, then streamed."""

from __future__ import annotations

from bench.scale import make_variant, recipes, scale_check


def test_recipes_cycle_bases_and_kinds():
    rs = list(recipes(5, n_bases=2))
    assert rs == [(0, 0, 0), (1, 1, 0), (0, 2, 1), (1, 3, 1), (0, 4, 0)]


def test_scale_check_builds_then_streams(data_dir, tmp_path):
    plain, doubled = make_variant((3, 0, 0)), make_variant((3, 0, 1))
    assert len(doubled) == 2 * len(plain)
    res = scale_check(12, tmp_path / "cache", workers=1, train_structures=8, batch_size=4, log=lambda *_: None)
    assert res["built"] == res["cache_files"] == 12 and res["failed"] == 0
    assert res["stream_structures"] == 8 and res["stream_rss_fifth_mb"] <= res["stream_rss_after_mb"]
    again = scale_check(12, tmp_path / "cache", workers=1, train_structures=0, log=lambda *_: None)
    assert again["hits"] == 12 and again["built"] == 0  # a second build reads the cache
