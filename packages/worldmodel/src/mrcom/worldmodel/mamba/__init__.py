"""MAMBA (Rimon et al. 2024, "MAMBA: an effective world model approach for meta-reinforcement
learning") as a world model of the registry.

DreamerV3's RSSM (`mrcom.worldmodel.dreamerv3.RSSM`, configured with its extra recurrent input:
a past reward, lagged so that no step's prior reads a function of its own observation, and the
normalized time) trained on meta-episodes (consecutive episodes of
one scenario, from their start) with a sequence-length curriculum and losses on a subsample of
time steps; at adaptation the recurrent state filters the target's real steps, across the episode
boundary of the context. Registered as "mamba" by the registry.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
