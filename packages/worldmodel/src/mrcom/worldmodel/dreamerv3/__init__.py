"""DreamerV3's world model (Hafner et al. 2023), proprioceptive configuration, as a baseline.

A reusable categorical RSSM (`RSSM`), a vector encoder/decoder and a two-hot reward head, trained
with DreamerV3's prediction, dynamics and representation losses; `imagine` and `evaluate` follow
the world-model seam (`mrcom.worldmodel.WorldModelKind`). Registered as "dreamerv3".
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
