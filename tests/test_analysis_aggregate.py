"""The estimators of analysis/_aggregate.py against values computed by hand from their definitions."""

import numpy as np
import pytest

from analysis._aggregate import (
    _poi_rows,
    curve_band,
    improvement_matrix,
    interval_estimates,
    iqm,
    mean,
    performance_profile,
    probability_of_improvement,
    still_score,
)


def test_iqm_and_mean_of_known_arrays():
    # 1..8: the middle half is 3, 4, 5, 6
    a = np.arange(1.0, 9.0).reshape(4, 2)
    assert iqm(a) == pytest.approx(4.5) and mean(a) == pytest.approx(4.5)
    # an outlier moves the mean, not the IQM
    b = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 1000.0]])
    assert iqm(b) == pytest.approx((3 + 4 + 5 + 6) / 4) and mean(b) == pytest.approx(1028 / 8)
    # 10 scores: int(2.5) = 2 cut each side, the mean of the middle 6
    c = np.array([[9.0, 0.0, 7.0, 3.0, 5.0], [1.0, 8.0, 2.0, 6.0, 4.0]])
    assert iqm(c) == pytest.approx(np.mean([2, 3, 4, 5, 6, 7]))
    # NaN cells are left out: the 8 finite scores of b, cut 2 each side
    d = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, 6.0], [7.0, 8.0], [2.0, 5.0]])
    assert iqm(d) == pytest.approx(np.mean([3, 4, 5, 6])) and mean(d) == pytest.approx(36 / 8)


def test_intervals_collapse_on_constant_scores_and_contain_the_point():
    est = interval_estimates({"c": np.full((5, 3), 42.0)}, "iqm", reps=500)["c"]
    assert est.point == est.lo == est.hi == 42.0 and (est.runs, est.tasks, est.n) == (5, 3, 15)
    rng = np.random.default_rng(0)
    scores = {"x": rng.normal(50.0, 10.0, (6, 4)), "y": rng.exponential(20.0, (5, 4))}
    for kind in ("iqm", "mean"):
        for e in interval_estimates(scores, kind, reps=2000).values():
            assert e.lo < e.point < e.hi
    # one run per task: nothing to resample, the interval is the point
    one = interval_estimates({"o": rng.normal(size=(1, 4))}, reps=500)["o"]
    assert one.lo == pytest.approx(one.point) == pytest.approx(one.hi)


def test_same_seed_same_interval_and_methods_do_not_move_each_other():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    a = interval_estimates({"x": x}, reps=1000, seed=7)["x"]
    assert interval_estimates({"x": x}, reps=1000, seed=7)["x"] == a
    assert interval_estimates({"y": y, "x": x}, reps=1000, seed=7)["x"] == a
    assert interval_estimates({"x": x}, reps=1000, seed=8)["x"] != a


def test_stratified_bootstrap_keeps_each_task_s_runs():
    """Runs are resampled within each task: a task whose runs all agree never varies, so two tasks at
    0 and 100 keep every replicate a 50/50 mixture (an unstratified bootstrap would not)."""
    scores = np.array([[0.0, 100.0]] * 4)
    e = interval_estimates({"s": scores}, "mean", reps=500)["s"]
    assert e.lo == e.hi == e.point == 50.0


def test_probability_of_improvement():
    x = np.array([[10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])
    y = x - 5.0
    assert probability_of_improvement(x, y) == 1.0 and probability_of_improvement(y, x) == 0.0
    # by hand: task 0, x {1, 4} vs y {2, 3}: 2 of 4 pairs; task 1, x {5, 6} vs y {0, 9}: 2 of 4
    a, b = np.array([[1.0, 5.0], [4.0, 6.0]]), np.array([[2.0, 0.0], [3.0, 9.0]])
    assert probability_of_improvement(a, b) == pytest.approx(0.5)
    # task 0: x {1, 4} vs y {2}: 1 of 2; task 1: x {5, 6} vs y {0}: 2 of 2
    assert probability_of_improvement(a, b[:1]) == pytest.approx(0.75)
    rng = np.random.default_rng(2)
    p, q = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))  # no ties
    # the bootstrap's vectorized form equals rliable's Mann-Whitney U estimate
    for u, v in ((p, q), (q, p), (a, b), (x, y), (p, p)):
        assert _poi_rows(u[None], v[None])[0] == pytest.approx(probability_of_improvement(u, v))
    assert probability_of_improvement(p, q) + probability_of_improvement(q, p) == pytest.approx(1.0)
    # ties count half: identical runs give 0.5
    assert probability_of_improvement(p, p) == pytest.approx(0.5)
    m = improvement_matrix({"x": x, "y": y, "p": rng.normal(size=(3, 2))}, reps=500)
    assert m[("x", "y")].point == m[("x", "y")].lo == 1.0 and m[("y", "x")].hi == 0.0
    assert m[("x", "p")].point + m[("p", "x")].point == pytest.approx(1.0)
    assert ("x", "x") not in m
    with pytest.raises(ValueError, match="tasks must be the same"):
        probability_of_improvement(x, y[:, :1])


def test_performance_profile_is_non_increasing_in_tau():
    rng = np.random.default_rng(3)
    scores = {"a": rng.uniform(-50, 100, (5, 4)), "b": rng.uniform(0, 60, (3, 4))}
    taus = np.linspace(-100, 100, 81)
    for key, prof in performance_profile(scores, taus, reps=500).items():
        for curve in (prof.fraction, prof.lo, prof.hi):
            assert np.all(np.diff(curve) <= 1e-12)
        assert np.all(prof.lo <= prof.fraction + 1e-12) and np.all(prof.fraction <= prof.hi + 1e-12)
        assert prof.fraction[0] == 1.0 and prof.fraction[-1] == 0.0
        # by hand at tau = 30: the fraction of the scores above it
        i = int(np.argmin(np.abs(taus - 30.0)))
        assert prof.fraction[i] == pytest.approx(np.mean(scores[key] > taus[i]))


def test_still_score_zero_at_still():
    still = np.array([35.0, 5.6, 99.5, 100.0, 80.0])
    returns = np.array([35.0, 100.0, 100.0, 90.0, 40.0])
    s = still_score(returns, still)
    assert s[0] == 0.0 and s[1] == pytest.approx(100.0)
    assert np.isnan(s[2]) and np.isnan(s[3])  # Still >= 99: no headroom, no score
    assert s[4] == pytest.approx(100.0 * (40 - 80) / 20)
    assert still_score(still[:2], still[:2]).tolist() == [0.0, 0.0]


def test_curve_band():
    rng = np.random.default_rng(4)
    curves = rng.uniform(0, 50, (4, 3, 6))
    m, lo, hi = curve_band(curves, reps=500)
    np.testing.assert_allclose(m, curves.mean(axis=(0, 1)))
    assert np.all(lo <= m) and np.all(m <= hi) and np.all(hi - lo > 0)
    m1, lo1, hi1 = curve_band(np.full((3, 2, 4), 7.0), reps=200)
    assert np.all(m1 == 7.0) and np.all(lo1 == 7.0) and np.all(hi1 == 7.0)


def test_intervals_agree_with_rliable_s_own_bootstrap():
    """The vectorized bootstrap has rliable's semantics: its IQM interval matches ``rliable.library``'s
    (StratifiedBootstrap, percentile) to within the replicates' noise. (rliable's PoI interval calls
    scipy's Mann-Whitney U once per replicate and task: seconds; the PoI's vectorized form is checked
    against rliable's point estimate in test_probability_of_improvement.)"""
    from rliable import library, metrics

    rng = np.random.default_rng(5)
    x = rng.normal(50.0, 10.0, (5, 4))
    state = np.random.get_state()  # rliable draws from numpy's global random state
    try:
        np.random.seed(0)
        _, theirs = library.get_interval_estimates(
            {"x": x}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=2000
        )
    finally:
        np.random.set_state(state)
    ours = interval_estimates({"x": x}, "iqm", reps=2000)["x"]
    width = ours.hi - ours.lo
    assert abs(ours.lo - theirs["x"][0, 0]) < 0.1 * width and abs(ours.hi - theirs["x"][1, 0]) < 0.1 * width
