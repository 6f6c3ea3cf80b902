"""mrcom.worldmodel.mrcom: the MrCoM world model (eqs. 4-16 of the paper, with the harness options of
docs/choices.md) as a world model of the registry, laid out like the baselines: its config, model,
losses, training step, `train`, `imagine` and `evaluate`. Registered as "mrcom"; its public names are
also those of `mrcom.worldmodel`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
