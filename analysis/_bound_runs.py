"""The bound over many runs: one report with every run's constants, bound and real gap, the paper's
mechanism claim tested across the ablations, and how the loss weights and m move the constants.

Runs are found under one or more folders (``find_runs``): Sacred run directories (``run.json``) and
pipeline workdirs (``config.json`` + ``worldmodel/``), each measured once (``measure_run``) and
cached as JSON under ``<out>/measured/`` (keyed by checkpoint, its modification time and the
measuring options), so a second report over the same runs re-measures nothing.

Mechanism claim (paper, end of section 4): latent factorization lowers eps_T, L_s lowers eps_S and
L_v lowers eps_pi. Tested as ``full < wo_d`` on eps_T, ``full < wo_ls`` on eps_S and
``full < wo_lv`` on eps_pi, with the ablation runs that share the full runs' preset, protocol,
loss weights and m. "holds" compares the means over seeds; "separated" asks every full seed to be
below every ablation seed (with two seeds per group, a weak test: say so in a report).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from analysis._bound import BoundConstants, theorem6  # noqa: E402
from analysis._bound_one_run import resolve_run  # noqa: E402
from analysis._bound_report import (  # noqa: E402
    Measured,
)
from analysis._io import atomic_write_text  # noqa: E402
from mrcom.agents import Workdir  # noqa: E402
from mrcom.worldmodel import checkpoint_path  # noqa: E402
from sweeps.layout import SacredRun  # noqa: E402

__all__ = ["find_runs", "measure_runs", "mechanism_rows", "CLAIMS", "STUDY_PARAMS"]

# (constant, ablation, what the paper says lowers it)
CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("eps_t", "wo_d", "latent factorization (d) lowers ε_T"),
    ("eps_s", "wo_ls", "meta-state regularization L_s lowers ε_S"),
    ("eps_pi", "wo_lv", "meta-value regularization L_v lowers ε_π"),
)
STUDY_PARAMS = ("lambda_var", "lambda_s", "lambda_v", "m")
MEASURED = ("eps_t", "eps_s", "eps_pi", "c_t", "c_pi")
_SETTING = ("preset", "protocol", "lambda_var", "lambda_s", "lambda_v", "m")


def find_runs(roots: Sequence[str | Path]) -> list[Path]:
    """Sacred run dirs and pipeline workdirs under ``roots`` (each root may itself be one), sorted.

    A workdir that a Sacred run points at (``info.json`` ``paths.workdir``) is listed once, as the run.
    """
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"runs={str(root)!r}: not a directory")
        candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir() and "_sources" not in p.parts)]
        for d in candidates:
            wd = Workdir(d)
            if SacredRun(d).run_json.is_file() or (wd.config.is_file() and wd.worldmodel().is_dir()):
                found.append(d)
    covered = set()
    for d in found:
        info = SacredRun(d).info_json
        if info.is_file():
            w = json.loads(info.read_text()).get("paths", {}).get("workdir")
            if w:
                covered.add(Path(w).resolve())
    runs = [d for d in found if SacredRun(d).run_json.is_file() or d.resolve() not in covered]
    return sorted(dict.fromkeys(runs), key=lambda p: (str(p.parent), _natural(p.name)))


def _natural(name: str):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _cache_key(run: Path, options: dict) -> str:
    ckpt = resolve_run(run).checkpoint
    f = checkpoint_path(ckpt)
    blob = json.dumps([str(run.resolve()), str(f.resolve()), f.stat().st_mtime, options], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def measure_runs(
    runs: Sequence[Path],
    cache_dir: Path | None,
    measure: Callable[..., Measured],
    options: dict,
    progress: bool = True,
) -> tuple[list[Measured], list[str]]:
    """Measure every run (or read it from ``cache_dir``); a run that cannot be measured is skipped.

    Returns:
        (measured runs, one line per skipped run).
    """
    from tqdm import tqdm

    done, skipped = [], []
    for run in tqdm(runs, desc="runs", disable=not progress):
        try:
            cached = None if cache_dir is None else cache_dir / f"{_cache_key(run, options)}.json"
            if cached is not None and cached.is_file():
                done.append(Measured.from_dict(json.loads(cached.read_text())))
                continue
            m = measure(run, **options)
            if cached is not None:
                atomic_write_text(cached, json.dumps(m.to_dict(), indent=1))
            done.append(m)
        except ValueError as err:
            skipped.append(f"{run}: {err}")
    return done, skipped


@functools.lru_cache(maxsize=4096)
def _bound_of(c: tuple[float, ...]) -> float:
    return float(theorem6(BoundConstants(*c)))


def bound_of(c: BoundConstants) -> float:
    """Eq. 24 as a float (memoized: reports evaluate it for the same constants many times)."""
    return _bound_of(tuple(float(x) for x in c))


def measured_policy(m: Measured) -> bool:
    """Whether eps_pi and C_pi were measured (not the 0 assumed without an adapted policy)."""
    return not any(m.sources.get(k, "").startswith("not measured") for k in ("eps_pi", "c_pi"))


def measured_value(m: Measured, name: str) -> float:
    if name in ("eps_pi", "c_pi", "bound") and not measured_policy(m):
        return float("nan")  # statistics leave out the 0 assumed without a policy (and its partial bound)
    if name == "bound":
        return bound_of(m.constants)
    if name == "gap":
        return float(np.mean([g["gap"] for g in m.gaps])) if m.gaps else float("nan")
    return float(getattr(m.constants, name))


def _setting(m: Measured) -> tuple:
    return tuple(m.run.get(k) for k in _SETTING)


def setting_groups(measured: Sequence[Measured]) -> dict[tuple, list[Measured]]:
    out: dict[tuple, list[Measured]] = {}
    for m in measured:
        out.setdefault((m.run.get("ablation"), _setting(m)), []).append(m)
    return out


def group_stats(ms: Sequence[Measured], name: str) -> tuple[float, float, int]:
    v = np.array([measured_value(m, name) for m in ms], float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def mechanism_rows(measured: Sequence[Measured]) -> list[dict]:
    """The paper's three predicted orderings, each with the full and ablation groups' mean, std, n.

    The full group is the setting with the most full-ablation runs that has ablation runs too.

    Returns:
        One dict per claim: claim, constant, ablation, full/ablated (mean, std, n, values), holds,
        separated (None when a group is missing).
    """
    groups = setting_groups(measured)
    fulls = [(s, ms) for (a, s), ms in groups.items() if a == "full"]
    with_ablations = [(s, ms) for s, ms in fulls if any(a != "full" and t == s for a, t in groups)]
    pool = with_ablations or fulls
    setting, full = max(pool, key=lambda x: len(x[1])) if pool else (None, [])
    rows = []
    for name, ablation, claim in CLAIMS:
        abl = groups.get((ablation, setting), [])
        fv = [measured_value(m, name) for m in full]
        av = [measured_value(m, name) for m in abl]
        row: dict[str, Any] = {
            "claim": claim,
            "constant": name,
            "ablation": ablation,
            "full": group_stats(full, name),
            "ablated": group_stats(abl, name),
            "full_values": fv,
            "ablated_values": av,
            "holds": None,
            "separated": None,
        }
        if fv and av and all(np.isfinite(fv)) and all(np.isfinite(av)):
            row["holds"] = bool(np.mean(fv) < np.mean(av))
            row["separated"] = bool(max(fv) < min(av))
        rows.append(row)
    return rows


def print_skipped(skipped: Sequence[str]) -> None:
    if skipped:
        print("skipped:\n  " + "\n  ".join(skipped), file=sys.stderr)
