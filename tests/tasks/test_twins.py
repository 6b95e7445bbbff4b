"""Test twins: pool structures of the paper's splits that match one of their test structures, reported as
leakage on the task card and cached on disk."""

from __future__ import annotations

import dataclasses

import pytest

from tasks import get_task
from tasks.twins import Twins, find_twins, trained_on_twins


@pytest.fixture
def fresh_memo(monkeypatch):
    import tasks.twins as twins

    monkeypatch.setattr(twins, "_MEMO", {})
    return twins


def test_devi2024_pz_twin(data_dir, fresh_memo):
    assert find_twins(get_task("devi2024-pz"), data_dir).pairs == (("pz-365", "pz-367"),)


@pytest.mark.slow
def test_devi2024_gv_twin(data_dir, fresh_memo):
    assert find_twins(get_task("devi2024-gv"), data_dir).pairs == (("gv-3517", "gv-6890"),)


def test_not_applicable_where_the_holdout_is_in_the_pool(data_dir):
    assert find_twins(get_task("devi2024-fe"), data_dir) is None


def test_twins_are_cached_on_the_data_hash_and_split(data_dir, fresh_memo, isolated_home, monkeypatch):
    task = get_task("devi2024-pz")
    first = find_twins(task, data_dir)
    files = list((isolated_home / "cache" / "twins").glob("devi2024-pz-*.json"))
    assert len(files) == 1
    fresh_memo._MEMO.clear()

    def no_pass(*args):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(fresh_memo, "_compute", no_pass)
    assert find_twins(task, data_dir) == first  # from the disk cache, no structure matching
    other = dataclasses.replace(task, split=dataclasses.replace(task.split, val_fraction=0.2))
    with pytest.raises(AssertionError, match="recomputed"):
        find_twins(other, data_dir)  # another split protocol: another key


def test_runs_trained_on_a_twin():
    twins = Twins((("p1", "t1"), ("p2", "t2")))
    assert trained_on_twins({"train": ["a", "p1"], "val": ["p2"], "test": ["t1", "x"]}, twins) == [("p1", "t1")]
    assert trained_on_twins({"train": ["a"], "val": [], "test": ["t1"]}, twins) == []


def test_card_reports_twins_as_leakage_not_as_duplicates(data_dir):
    from tasks.card import render_card

    card = render_card(get_task("devi2024-pz"), data_dir)
    leak = " ".join(card.split("leakage (test twins):", 1)[1].split("groups (from the source):", 1)[0].split())
    assert "1 pool structure matches a test structure" in leak
    assert "pz-365 (pool) <-> pz-367 (test); pz-365 is in 7 subsets: ft_800_t1" in leak
    cleaning = " ".join(card.split("cleaning:", 1)[1].split("leakage (test twins):", 1)[0].split())
    assert "finds 9 entries it would drop (not removed); 1 more is a test twin, listed under leakage" in cleaning
    assert "duplicate structure: 9 (" in cleaning and "pz-367" not in cleaning


def test_card_of_a_cleaned_task_says_none(data_dir):
    from tasks.card import render_card

    assert "leakage (test twins):\n  none: no pool structure matches a test structure" in \
        render_card(get_task("piezo"), data_dir)
