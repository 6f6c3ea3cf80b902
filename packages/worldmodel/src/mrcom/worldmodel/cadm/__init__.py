"""mrcom.worldmodel.cadm: the CaDM baseline (Lee et al. 2020, "Context-aware Dynamics Model for
Generalization in Model-Based Reinforcement Learning") as a world model of the registry.

A context encoder reads the last K transitions; forward, backward and reward heads are
conditioned on its context vector; one context vector is scored against the next M one-step
targets. Registered as "cadm" by `mrcom.worldmodel`'s registry.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
