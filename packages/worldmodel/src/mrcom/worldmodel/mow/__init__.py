"""mrcom.worldmodel.mow: Mixture-of-World Models (arXiv 2602.01270) adapted from pixels to
proprioceptive vectors, as a world model of the registry.

Modular VAEs (one encoder/decoder module per observation/action layout), a causal Transformer
dynamics model whose blocks add a task-conditioned expert to a shared backbone, and a
gradient-based task clustering that allocates the experts (scenarios whose loss gradients on the
shared parameters align share an expert). An unseen scenario's expert is selected by the
likelihood of its real context and prefix. Registered as "mow" by the registry.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
