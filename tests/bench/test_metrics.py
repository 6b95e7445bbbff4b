import numpy as np
import pytest
from sklearn import metrics as skm

from bench.metrics import METRICS, evaluate, mad_mae


@pytest.fixture(params=range(5))
def pair(request):
    rng = np.random.default_rng(request.param)
    y = rng.normal(size=50) * 3 + 1
    return y, y + rng.normal(size=50) * 0.7


def test_against_scikit_learn(pair):
    y, p = pair
    got = evaluate(y, p)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    mad = np.mean(np.abs(y - y.mean()))
    assert got["mad_mae"] == pytest.approx(mad / skm.mean_absolute_error(y, p), rel=1e-12)


def test_constant_target_r2_matches_scikit_learn():
    y = np.ones(5)
    assert METRICS["r2"](y, y) == skm.r2_score(y, y)
    assert METRICS["r2"](y, y + 1) == skm.r2_score(y, y + 1)


def test_direction():
    assert METRICS["r2"].higher_is_better and METRICS["mad_mae"].higher_is_better
    assert not METRICS["mae"].higher_is_better and not METRICS["rmse"].higher_is_better
    assert METRICS["mae"].better(0.1, 0.2) and METRICS["r2"].better(0.9, 0.5)


def test_perfect_prediction_mad_mae_is_infinite():
    assert mad_mae([1.0, 2.0], [1.0, 2.0]) == float("inf")


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="3 values"):
        METRICS["mae"]([1, 2, 3], [1, 2])


def test_untransformed_metrics_undo_log10_against_scikit_learn():
    import sklearn.metrics as skm

    from bench.metrics import untransformed, untransformed_units

    logs_true, logs_pred = np.array([-3.0, -1.0, 0.5]), np.array([-2.0, -1.2, 0.4])
    got = untransformed("log10", logs_true, logs_pred)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(10 ** logs_true, 10 ** logs_pred), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(10 ** logs_true, 10 ** logs_pred), rel=1e-12)
    assert untransformed_units("log10", "log10(C/m²)") == "C/m²"
    with pytest.raises(ValueError, match="no inverse known for target transform 'sqrt'"):
        untransformed("sqrt", logs_true, logs_pred)

