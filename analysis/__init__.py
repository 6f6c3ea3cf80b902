"""Analysis of recorded MrCoM runs: the generalization bound of section 4 and the paper's tables/figures.

Nothing here trains anything; it reads Sacred runs (``runs/sacred/<id>/``), ``results.json`` artifacts,
Optuna studies and world-model checkpoints.

- ``python -m analysis.bound --run <dir> --out <dir>``: bound constants, sensitivity, Markdown report.
- ``python -m analysis.budget --runs <dir>``: per evaluation step, each method's margin over Still.
- ``python -m analysis.figures --runs runs/sacred --out figures/``: Tables 1-3 (IQM over seeds x targets
  with stratified bootstrap 95 % intervals), the still-score aggregates and probability of improvement
  (``aggregate.md``), performance profiles, Figure 3, curves. Estimators: ``analysis._aggregate``.
"""
