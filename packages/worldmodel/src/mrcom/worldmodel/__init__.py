"""mrcom.worldmodel: the MrCoM world model (arXiv 2511.06252) in JAX/Equinox.

Knows nothing of MuJoCo: it trains on any multi-scenario sequence data given as padded arrays,
masks and scenario ids (`MultiScenarioData`). MrCoM (`.mrcom`) and the baselines CaDM (`.cadm`),
DreamerV3 (`.dreamerv3`), MAMBA (`.mamba`) and Mixture-of-World Models (`.mow`) are subpackages behind
one seam: each is a registered `WorldModelKind` (`get_kind(name)`, `world_model_names()`). Names load
on first use from `__init__.pyi`, so the configs and the registry's names import no JAX.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
