"""mrcom.worldmodel: the MrCoM world model (arXiv 2511.06252) in JAX/Equinox.

Knows nothing of MuJoCo: it trains on any multi-scenario sequence data given as padded arrays,
masks and scenario ids (`MultiScenarioData`). The paper's baselines CaDM (`mrcom.worldmodel.cadm`)
and DreamerV3 (`mrcom.worldmodel.dreamerv3`) sit behind the same seam: every world model is a
registered `WorldModelKind` (`get_kind("mrcom" | "cadm" | "dreamerv3")`).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
