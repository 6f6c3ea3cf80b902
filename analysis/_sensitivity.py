"""Sensitivity of the Theorem 6 bound to each of its constants, by ``jax.grad``.

The elasticity of the bound B with respect to a constant x is ``(dB/dx) * x / B``: the relative
change of the bound per relative change of x. For the three errors (linear terms) the elasticities
are the shares of the bound carried by each error, and they sum to 1 together; gamma's elasticity
blows up as gamma -> 1 because of the ``1/(1-gamma)^2`` factor.
"""

from __future__ import annotations

from typing import TypedDict

import jax
import jax.numpy as jnp
import numpy as np

from analysis._bound import CONSTANT_NAMES, BoundConstants, _as_arrays, _theorem6, validate_constants

__all__ = ["SensitivityRow", "bound_gradients", "bound_elasticities", "sensitivity_table"]


class SensitivityRow(TypedDict):
    """One row of ``sensitivity_table``: a constant, its value, dB/dx and the elasticity of the bound."""

    constant: str
    value: float
    gradient: float
    elasticity: float


def _bound_value(c: BoundConstants):
    first, second = _theorem6(c)
    return first + second


def bound_gradients(c: BoundConstants) -> dict[str, float]:
    """Partial derivatives of eq. 24 with respect to each constant (``jax.grad``).

    Arguments:
        c: scalar constants (validated).

    Returns:
        ``{name: dB/d name}`` for the names in ``BoundConstants._fields``.
    """
    validate_constants(c)
    c = _as_arrays(c)
    for name, v in zip(CONSTANT_NAMES, c, strict=True):
        if jnp.shape(v) != ():
            raise ValueError(f"{name} has shape {jnp.shape(v)}: bound_gradients needs scalar constants")
    grads = jax.grad(_bound_value)(c)
    return {name: float(g) for name, g in zip(CONSTANT_NAMES, grads, strict=True)}


def bound_elasticities(c: BoundConstants) -> dict[str, float]:
    """Elasticities ``(dB/dx) x / B`` of eq. 24 for each constant x.

    Returns:
        ``{name: elasticity}``; all NaN when the bound is 0 (elasticity undefined).
    """
    grads = bound_gradients(c)
    value = float(_bound_value(_as_arrays(c)))
    if value == 0.0:
        return {name: float("nan") for name in CONSTANT_NAMES}
    return {name: grads[name] * float(getattr(c, name)) / value for name in CONSTANT_NAMES}


def sensitivity_table(c: BoundConstants) -> list[SensitivityRow]:
    """Rows ``{"constant", "value", "gradient", "elasticity"}`` for a report, one per constant."""
    grads = bound_gradients(c)
    elast = bound_elasticities(c)
    return [
        SensitivityRow(
            constant=name,
            value=float(np.asarray(getattr(c, name))),
            gradient=grads[name],
            elasticity=elast[name],
        )
        for name in CONSTANT_NAMES
    ]


def bound_value(c: BoundConstants) -> float:
    """Eq. 24 as a Python float (validated)."""
    validate_constants(c)
    return float(jnp.asarray(_bound_value(_as_arrays(c))))
