"""Aggregate scores over seeds x targets as Agarwal et al. (2021, "Deep RL at the edge of the statistical
precipice") report them: IQM and mean with stratified bootstrap 95 % intervals, the probability of
improvement of one method over another, and performance profiles with bands.

Every function takes plain numpy arrays, one score matrix per method, shaped ``(runs, tasks)``: a row
is one seed (a whole replicate), a column one task (here a target slot: the j-th evaluation target of a
robot; every seed draws its own targets, so a column is a stratum of exchangeable targets). A NaN cell
is a (seed, target) without a score (``still_score`` of a target that leaves no headroom) and is left out
of every estimate. Matrices of different methods may have different numbers of runs; the probability of
improvement needs the same tasks.

Point estimates without NaN are rliable's (``rliable.metrics.aggregate_iqm``, ``aggregate_mean``,
``probability_of_improvement``; imported lazily: analysis.figures loads no heavy module at import). The
bootstrap is this module's, vectorized over replicates and seeded explicitly, with rliable's semantics
(``StratifiedBootstrap``: runs resampled with replacement within each task, tasks kept; percentile
intervals; ``StratifiedIndependentBootstrap`` for two methods): rliable's own draws from numpy's global
random state and calls the estimator once per replicate in Python, which is slow for the hundreds of
cells of Tables 1-3. The same ``seed`` always gives the same interval; each method's replicates come
from a stream of its own (``seed`` and the method's name), so adding a method moves no other interval.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "MIN_HEADROOM",
    "REPS",
    "Estimate",
    "Profile",
    "still_score",
    "iqm",
    "mean",
    "probability_of_improvement",
    "interval_estimates",
    "improvement_matrix",
    "performance_profile",
    "curve_band",
]

# targets whose Still reference leaves less headroom than this (normalized-return points) get no still score
MIN_HEADROOM = 1.0
# bootstrap replicates of the table intervals (rliable's default is 50,000; 10,000 moves a 95 % bound by
# well under the tables' one decimal on the spreads seen here) and of the PoI, profiles and curve bands
REPS = 10_000
REPS_SMALL = 2_000

Scores = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval.

    Attributes:
        point: the estimate on the recorded scores.
        lo, hi: the percentile interval (``confidence``, 95 % by default); equal to ``point`` when no
            stratum has two runs (nothing to resample).
        runs: rows of the score matrix (seeds).
        tasks: columns (target slots).
        n: scores that entered (cells that are not NaN).
    """

    point: float
    lo: float
    hi: float
    runs: int
    tasks: int
    n: int

    def above(self, other: Estimate) -> bool:
        """Whether this interval lies wholly above ``other``'s (they do not overlap)."""
        return self.lo > other.hi


@dataclasses.dataclass(frozen=True)
class Profile:
    """A performance profile: the fraction of scores above each threshold, with its bootstrap band."""

    taus: np.ndarray
    fraction: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    runs: int
    n: int


def still_score(returns, still, min_headroom: float = MIN_HEADROOM) -> np.ndarray:
    """A score whose zero is standing still: ``100 * (R - Still) / (100 - Still)``.

    100 is the maximum normalized return, 0 the return of an upright robot that does not move on the
    same target, negative scores fall below it. A target with ``100 - Still < min_headroom`` (Still at or
    near 100: a target speed near 0 pays standing almost everything) has no score (NaN).

    Arguments:
        returns: normalized returns, any shape.
        still: the targets' Still references, broadcastable to ``returns``.
        min_headroom: the smallest ``100 - Still`` that gets a score.

    Returns:
        The scores (float64), NaN where the target has no headroom.
    """
    r = np.asarray(returns, dtype=np.float64)
    s = np.broadcast_to(np.asarray(still, dtype=np.float64), r.shape)
    headroom = 100.0 - s
    ok = headroom >= min_headroom
    return np.where(ok, 100.0 * (r - s) / np.where(ok, headroom, 1.0), np.nan)


def _matrix(scores) -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim < 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"scores.shape={a.shape}: need (runs >= 1, tasks >= 1, ...)")
    return a


def _iqm_rows(a: np.ndarray) -> np.ndarray:
    """25 % trimmed mean of each row of ``a`` (B, N), NaN left out (scipy's ``trim_mean`` cut)."""
    s = np.sort(a, axis=1)  # NaN sorts last
    k = np.sum(~np.isnan(a), axis=1)
    cut = (0.25 * k).astype(np.int64)
    idx = np.arange(a.shape[1])
    keep = (idx >= cut[:, None]) & (idx < (k - cut)[:, None])
    total = np.where(keep, s, 0.0).sum(axis=1)
    count = keep.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean_rows(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    count = ok.sum(axis=1)
    total = np.where(ok, a, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


_ROWS = {"iqm": _iqm_rows, "mean": _mean_rows}


def iqm(scores) -> float:
    """Interquartile mean (25 % trimmed mean) of every score of ``scores`` (runs, tasks), NaN left out."""
    a = _matrix(scores)
    if not np.isnan(a).any():
        from rliable import metrics

        return float(metrics.aggregate_iqm(a))
    return float(_iqm_rows(a.reshape(1, -1))[0])


def mean(scores) -> float:
    """Mean of every score of ``scores`` (runs, tasks), NaN left out."""
    a = _matrix(scores)
    if not np.isnan(a).any():
        from rliable import metrics

        return float(metrics.aggregate_mean(a))
    return float(_mean_rows(a.reshape(1, -1))[0])


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(key.encode())])


def _resample(rng: np.random.Generator, a: np.ndarray, reps: int) -> np.ndarray:
    """Stratified bootstrap replicates of ``a`` (runs, tasks, ...): (reps, runs, tasks, ...), runs drawn
    with replacement within each task."""
    runs, tasks = a.shape[:2]
    idx = rng.integers(0, runs, size=(reps, runs, tasks))
    return a[idx, np.arange(tasks)[None, None, :]]


def _percentiles(stats: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: must lie in (0, 1)")
    tail = 100.0 * (1.0 - confidence) / 2.0
    finite = ~np.isnan(stats).all(axis=0)
    lo = np.full(stats.shape[1:], np.nan)
    hi = np.full(stats.shape[1:], np.nan)
    if finite.any():
        lo[finite], hi[finite] = np.nanpercentile(stats[:, finite], [tail, 100.0 - tail], axis=0)
    return lo, hi


def interval_estimates(
    score_dict: Scores,
    estimator: str = "iqm",
    *,
    reps: int = REPS,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """The aggregate of each method with its stratified bootstrap percentile interval.

    Arguments:
        score_dict: ``{method: (runs, tasks)}`` scores.
        estimator: ``"iqm"`` or ``"mean"`` (over every score of the matrix).
        reps: bootstrap replicates.
        confidence: the interval's coverage.
        seed: the bootstrap's seed (with the method's name).

    Returns:
        ``{method: Estimate}``.
    """
    if estimator not in _ROWS:
        raise ValueError(f"estimator={estimator!r}: must be one of {sorted(_ROWS)}")
    point_fn = iqm if estimator == "iqm" else mean
    out = {}
    for key, scores in score_dict.items():
        a = _matrix(scores)
        point = point_fn(a)
        boot = _resample(_rng(seed, key), a, reps).reshape(reps, -1)
        lo, hi = _percentiles(_ROWS[estimator](boot), confidence)
        n = int(np.sum(~np.isnan(a)))
        out[key] = Estimate(point, float(lo), float(hi), a.shape[0], a.shape[1], n)
    return out


def _poi_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 per task, averaged over tasks, for replicates x (B, Rx, T), y (B, Ry, T)."""
    xa, ya = x[:, :, None, :], y[:, None, :, :]
    valid = ~(np.isnan(xa) | np.isnan(ya))
    wins = np.where(valid, (xa > ya) + 0.5 * (xa == ya), 0.0).sum(axis=(1, 2))
    pairs = valid.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_task = np.where(pairs > 0, wins / np.maximum(pairs, 1), np.nan)
    ok = ~np.isnan(per_task)
    return np.where(ok.any(axis=1), np.where(ok, per_task, 0.0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)


def probability_of_improvement(x, y) -> float:
    """P(X > Y): for each task, the probability that a run of X scores above a run of Y (ties count half,
    the Mann-Whitney U over ``runs_x * runs_y``), averaged over tasks. ``x`` (runs_x, tasks) and ``y``
    (runs_y, tasks) must have the same tasks."""
    a, b = _matrix(x), _matrix(y)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"x.shape={a.shape}, y.shape={b.shape}: the tasks must be the same")
    if not (np.isnan(a).any() or np.isnan(b).any()):
        from rliable import metrics

        return float(metrics.probability_of_improvement(a, b))
    return float(_poi_rows(a[None], b[None])[0])


def improvement_matrix(
    score_dict: Scores, *, reps: int = REPS_SMALL, confidence: float = 0.95, seed: int = 0
) -> dict[tuple[str, str], Estimate]:
    """The probability of improvement of every method over every other, with its interval.

    The runs of the two methods are resampled independently, each stratified by task
    (rliable's ``StratifiedIndependentBootstrap``).

    Returns:
        ``{(x, y): Estimate of P(X > Y)}`` for every ordered pair of different methods with the same
        number of tasks (a pair without is left out).
    """
    out = {}
    keys = list(score_dict)
    for kx in keys:
        for ky in keys:
            a, b = _matrix(score_dict[kx]), _matrix(score_dict[ky])
            if kx == ky or a.shape[1:] != b.shape[1:]:
                continue
            point = probability_of_improvement(a, b)
            rng = _rng(seed, f"{kx}>{ky}")
            boot = _poi_rows(_resample(rng, a, reps), _resample(rng, b, reps))
            lo, hi = _percentiles(boot, confidence)
            n = int(np.sum(~np.isnan(a)) + np.sum(~np.isnan(b)))
            out[(kx, ky)] = Estimate(point, float(lo), float(hi), a.shape[0] + b.shape[0], a.shape[1], n)
    return out


def _above_rows(a: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of the non-NaN scores of each row of ``a`` (B, N) above each tau: (B, len(taus))."""
    ok = ~np.isnan(a)
    above = (np.where(ok, a, -np.inf)[:, :, None] > taus[None, None, :]).sum(axis=1)
    count = ok.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, above / np.maximum(count, 1), np.nan)


def performance_profile(
    score_dict: Scores,
    taus: Sequence[float] | np.ndarray,
    *,
    reps: int = REPS_SMALL,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Profile]:
    """Performance profiles (rliable's score distributions): per method the fraction of its (run, task)
    scores above each ``tau``, with a stratified bootstrap band. Non-increasing in tau, band included.

    Returns:
        ``{method: Profile}``.
    """
    t = np.asarray(taus, dtype=np.float64)
    out = {}
    for key, scores in score_dict.items():
        a = _matrix(scores)
        frac = _above_rows(a.reshape(1, -1), t)[0]
        boot = _above_rows(_resample(_rng(seed, key), a, reps).reshape(reps, -1), t)
        lo, hi = _percentiles(boot, confidence)
        out[key] = Profile(t, frac, lo, hi, a.shape[0], int(np.sum(~np.isnan(a))))
    return out


def curve_band(
    scores, *, reps: int = REPS_SMALL, confidence: float = 0.95, seed: int = 0, key: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs x tasks at each point of learning curves ``scores`` (runs, tasks, points), with a
    stratified bootstrap interval of that mean at each point.

    Returns:
        ``(mean, lo, hi)``, each of shape (points,).
    """
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 3 or 0 in a.shape:
        raise ValueError(f"scores.shape={a.shape}: need (runs, tasks, points)")
    points = a.shape[2]
    flat = np.moveaxis(a, 2, 0).reshape(points, -1)
    m = _mean_rows(flat)
    boot = _resample(_rng(seed, key), a, reps)  # (reps, runs, tasks, points)
    stats = _mean_rows(np.moveaxis(boot, 3, 1).reshape(reps * points, -1)).reshape(reps, points)
    lo, hi = _percentiles(stats, confidence)
    return m, lo, hi
