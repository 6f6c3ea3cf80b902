"""Data parallelism over all local devices with jax.sharding (a no-op on one device)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def data_sharding(batch_size: int) -> NamedSharding | None:
    """Sharding of the batch axis over the local devices, or None on a single device."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return None
    if batch_size % len(devices):
        raise ValueError(f"batch_size={batch_size}: must be divisible by the {len(devices)} local devices")
    return NamedSharding(Mesh(np.asarray(devices), ("data",)), PartitionSpec("data"))


def replicate(tree, sharding: NamedSharding | None):
    """Put every array of `tree` on all devices of `sharding`'s mesh (identity when None)."""
    if sharding is None:
        return tree
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    return jax.tree.map(lambda x: jax.device_put(x, replicated) if isinstance(x, jax.Array) else x, tree)
