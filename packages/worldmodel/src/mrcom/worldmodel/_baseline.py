"""What the baseline models share: the whole config as their `spec`."""

from __future__ import annotations

from typing import Generic, TypeVar

import equinox as eqx

C = TypeVar("C")


class WholeConfig(eqx.Module, Generic[C]):
    """A model that holds its whole config (CaDM, DreamerV3, MAMBA, MoW)."""

    config: eqx.AbstractVar[C]

    @property
    def spec(self) -> C:
        """The static settings every world model exposes (`context_len`, `obs_dim`, `act_dim`,
        `fast_compile`): this baseline holds its whole config (its loss weights are not swept)."""
        return self.config
