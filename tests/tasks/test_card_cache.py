"""`bench tasks show T` is computed once per data and code version: a second call parses no structure."""

from __future__ import annotations

import shutil

import pytest

from tests.bench.tinytask import refresh_registry
from tests.bench.tinytask import register_tiny as _register


@pytest.fixture
def register_tiny(data_dir, isolated_home):
    """``register_tiny(n)`` registers an n-structure task; the registry forgets it afterwards."""
    yield _register
    shutil.rmtree(isolated_home / "user_tasks", ignore_errors=True)
    refresh_registry()


def _forget_this_process(monkeypatch):
    """What a new process would not have: the in-memory caches of cleaning and twins."""
    import tasks.loaders
    import tasks.twins

    tasks.loaders._load_cleaned.cache_clear()
    monkeypatch.setattr(tasks.twins, "_MEMO", {})


def test_second_card_parses_no_structure(data_dir, monkeypatch, register_tiny):
    import bench.structures
    from tasks import get_task
    from tasks.card import render_card

    first = render_card(get_task(register_tiny(12)), data_dir)
    assert "12 after cleaning" in first
    _forget_this_process(monkeypatch)

    def no_parsing(*args, **kwargs):
        raise AssertionError("a cached card parsed a structure")

    monkeypatch.setattr(bench.structures, "parse_structure", no_parsing)
    assert render_card(get_task("tiny"), data_dir) == first


def test_card_is_recomputed_when_the_data_changes(data_dir, monkeypatch, register_tiny):
    from tasks import get_task
    from tasks.card import card_key, render_card

    task = get_task(register_tiny(12))
    key = card_key(task, data_dir)
    render_card(task, data_dir)
    _forget_this_process(monkeypatch)
    task = get_task(register_tiny(10))
    assert card_key(task, data_dir) != key
    assert "10 after cleaning" in render_card(task, data_dir)


def test_damaged_cached_card_is_recomputed(data_dir, monkeypatch, register_tiny):
    from bench import paths
    from tasks import get_task
    from tasks.card import card_key, render_card

    task = get_task(register_tiny(12))
    path = paths.cache_dir() / "cards" / f"tiny-{card_key(task, data_dir)}.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe not a card")
    assert render_card(task, data_dir).startswith("# tiny")


def test_card_of_missing_data_names_the_file(tmp_path):
    from tasks import get_task
    from tasks.card import render_card

    with pytest.raises(FileNotFoundError, match="piezoelectric_tensor"):
        render_card(get_task("piezo"), tmp_path)
