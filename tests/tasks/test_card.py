"""Task cards: source, size, units, statistics, splits with sizes, dropped entries by reason, notes."""

from __future__ import annotations

import re

import pytest

from tasks import get_task
from tasks.card import render_card


@pytest.fixture(scope="module")
def obelix_card(data_dir):
    return render_card(get_task("obelix"), data_dir)


def test_obelix_card(obelix_card):
    card = obelix_card
    assert card.startswith("# obelix")
    assert "arXiv:2502.14234" in card
    assert "records:     212 after cleaning (478 source entries, 266 dropped)" in card
    assert "log10(S/cm)" in card and "transformed: log10" in card
    assert "166 of 212 have partially occupied sites" in card
    assert re.search(r"count 212, mean -?\d", card) and "median" in card
    assert "test 21, train 172, val 19" in card
    assert "sizes 10, 100 x 5 trials" in card
    assert "5-fold CV (KFold shuffle, random_state=18012019)" in card
    # dropped, grouped by reason with example ids
    assert "missing structure: 224 (7se, " in card
    assert "censored target: 28 (" in card and "'<1E-10'" in card
    assert "duplicate structure, conflicting target: 7 (" in card
    assert "duplicate structure: 7 (" in card
    # the notes: usable count, disorder, how rows map to CIFs
    flat = " ".join(card.split())
    assert "Usable: 226 rows with a CIF and a positive conductivity, 178 of them with partially occupied sites" in flat
    assert "occupancy-weighted CGCNN atom features on each site" in flat
    assert "478 rows" in flat and "254 CIFs" in flat


def test_piezo_card_reports_the_duplicates_it_removed(data_dir):
    card = render_card(get_task("piezo"), data_dir)
    flat = " ".join(card.split())
    assert card.startswith("# piezo") and "de Jong" in card
    assert "records: 931 after cleaning (941 source entries, 10 dropped)" in flat
    assert "C/m²" in card and "test 93, train 754, val 84" in card
    assert "sizes 10, 100, 200, 500, 800 x 5 trials" in card
    assert "duplicate structure: 10 (" in card


def test_bench_tasks_show_prints_the_card(obelix_card, data_dir, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app

    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, ["tasks", "show", "obelix"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == obelix_card.strip()
