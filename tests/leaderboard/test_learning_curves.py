"""Each task page's learning curves: every strategy of this suite (baselines too) beside every paper row, at
every FT size either has, readable where the paper's MAE spans decades."""

from __future__ import annotations

from leaderboard.boards import add_reference, group_runs
from leaderboard.figures import learning_curve_data
from leaderboard.plots import Curve, dodge, wants_log_y
from leaderboard.records import load_records
from leaderboard.reference import SHIPPED, load_reference
from tests.leaderboard.test_backbones import PZ, baseline_records
from tests.leaderboard.test_build import pz_records, write_records


def test_every_strategy_beside_every_paper_row_at_every_size(tmp_path):
    runs = load_records(write_records(tmp_path / "r", pz_records() + baseline_records()))
    boards = group_runs(runs)
    add_reference(boards, load_reference(SHIPPED))
    board = boards[PZ]
    ours, paper, ticks = learning_curve_data(board)
    assert [c.label for c in ours] == [r.label for r in board.rows + board.baseline_rows]
    assert len(ours) == 3 + 2 and len(paper) == 8  # scratch, six PT-FT sources, MPT
    assert all(sorted(x for x, _, _ in c.points) == [10.0, 100.0, 800.0] for c in ours)
    assert all(sorted(x for x, _, _ in c.points) == [10.0, 100.0, 200.0, 500.0, 800.0] for c in paper)
    assert sorted(ticks.values(), key=int) == ["10", "100", "200", "500", "800"]
    assert wants_log_y(paper)  # the paper's scratch MAE at N = 10 is ~30× its MAE at N = 800


def test_dodge_separates_points_at_one_size_and_keeps_values():
    curves = [Curve(str(i), "#000", [(800.0, 0.03, 0.001)]) for i in range(4)]
    xs = [c.points[0][0] for c in dodge(curves)]
    assert len(set(xs)) == 4 and min(xs) < 800 < max(xs) and max(xs) / min(xs) < 1.2
    assert [c.points[0][1:] for c in dodge(curves)] == [(0.03, 0.001)] * 4
    assert dodge(curves[:1])[0].points == curves[0].points
    assert not wants_log_y([Curve("a", "#000", [(10, 0.5, 0.1), (800, 0.2, 0.1)])])


def test_a_long_legend_goes_below_the_curves_and_the_figure_grows(tmp_path):
    from PIL import Image

    from leaderboard.plots import LEGEND_INSIDE, learning_curves

    def height(n: int) -> int:
        curves = [Curve(f"arm {i}", "#333", [(100.0, 0.05 + 0.001 * i, 0.01), (800.0, 0.03, 0.005)]) for i in range(n)]
        path = learning_curves(tmp_path / f"{n}.png", curves, [], "test MAE", "t", {100.0: "100", 800.0: "800"})
        with Image.open(path) as im:
            return im.size[1]

    few, many = height(LEGEND_INSIDE), height(3 * LEGEND_INSIDE)
    assert many > few  # the legend's rows below the axes, instead of over the curves
