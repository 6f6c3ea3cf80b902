"""Section 4 of the paper as pure JAX functions: Lemmas 3-5 (eqs. 21-23) and Theorem 6 (eq. 24).

Symbols (paper -> argument): epsilon_T -> ``eps_t`` (dynamics error, a total variation, eq. 19),
epsilon_S -> ``eps_s`` (representation error, a distance in the latent space, eq. 20), epsilon_pi ->
``eps_pi`` (policy total variation), C_T -> ``c_t`` (Lipschitz constant of the transition in TV with
respect to the latent distance of eps_S), C_pi -> ``c_pi`` (Lipschitz constant of the policy in L1 = 2 TV
with respect to the same distance), R -> ``r_max`` (largest reward), gamma -> ``gamma``. In these units
``C_T eps_S`` and ``C_pi eps_S / 2`` are TVs, so each sum in eqs. 21-24 adds like to like; the estimators
are in ``analysis._estimators``.

How eq. 24 relates to eqs. 21-23 (worked out in ``docs/choices.md``): substituting Lemma 3
and Lemma 4 into Lemma 5 once gives ``compose_substitution``; Theorem 6 equals that plus the
non-negative gap ``theorem6_gap`` = 2 R gamma eps_pi / (1-gamma)^2 + R (2 eps_pi + C_pi eps_S) / (1-gamma).
So the paper's constants do not compose exactly by substitution: Theorem 6 is looser than the
substitution (hence implied by the lemmas) and tighter than applying Lemma 5 twice along a triangle
inequality with the representation-corrected errors (``compose_triangle``).

Every function validates concrete inputs (``ValueError`` naming field, value and the allowed range)
and skips the check for JAX tracers, so the same functions work under ``jax.grad``/``jax.jit``.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "BoundConstants",
    "lemma3",
    "lemma4",
    "lemma5",
    "theorem6",
    "theorem6_terms",
    "theorem6_gap",
    "compose_substitution",
    "compose_triangle",
    "validate_constants",
]

CONSTANT_NAMES: tuple[str, ...] = ("eps_t", "eps_s", "eps_pi", "c_t", "c_pi", "r_max", "gamma")


RealLike: TypeAlias = float | np.ndarray | Array
"""A real constant (scalar or batch): a Python float, a NumPy array or a JAX array (or tracer)."""


class BoundConstants(NamedTuple):
    """The seven quantities the bound of Theorem 6 depends on (a pytree, so ``jax.grad`` works on it)."""

    eps_t: RealLike
    eps_s: RealLike
    eps_pi: RealLike
    c_t: RealLike
    c_pi: RealLike
    r_max: RealLike
    gamma: RealLike


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_nonneg(name: str, value) -> None:
    if not _is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}={value!r}: must be finite and >= 0")


def _check_gamma(value) -> None:
    if not _is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr >= 1):
        raise ValueError(f"gamma={value!r}: must be in [0, 1)")


def _check_tv(name: str, value) -> None:
    _check_nonneg(name, value)
    if _is_concrete(value) and np.any(np.asarray(value, dtype=np.float64) > 1):
        raise ValueError(f"{name}={value!r}: a total-variation distance must be in [0, 1]")


def validate_constants(c: BoundConstants) -> None:
    """Raise ``ValueError`` unless eps_t, eps_pi in [0, 1], eps_s, c_t, c_pi, r_max >= 0, gamma in [0, 1)."""
    _check_tv("eps_t", c.eps_t)
    _check_tv("eps_pi", c.eps_pi)
    for name in ("eps_s", "c_t", "c_pi", "r_max"):
        _check_nonneg(name, getattr(c, name))
    _check_gamma(c.gamma)


def lemma3(eps_t: ArrayLike, eps_s: ArrayLike, c_t: ArrayLike) -> Float[Array, "*b"]:
    """Eq. 21: TV of the transition evaluated at the represented state, ``eps_t + C_T eps_s``.

    Arguments:
        eps_t: dynamics error (TV, in [0, 1]).
        eps_s: representation error (>= 0).
        c_t: sensitivity of the transition to the state (>= 0).

    Returns:
        The dynamics error under the state representation (not clipped at 1, as in the paper).
    """
    _check_tv("eps_t", eps_t)
    _check_nonneg("eps_s", eps_s)
    _check_nonneg("c_t", c_t)
    return jnp.asarray(eps_t) + jnp.asarray(c_t) * jnp.asarray(eps_s)


def lemma4(eps_pi: ArrayLike, eps_s: ArrayLike, c_pi: ArrayLike) -> Float[Array, "*b"]:
    """Eq. 22: TV between the policies under the representation, ``eps_pi + C_pi eps_s / 2``.

    Arguments:
        eps_pi: policy difference in the state space (TV, in [0, 1]).
        eps_s: representation error (>= 0).
        c_pi: sensitivity of the policy to the state (an L1 Lipschitz constant, >= 0).

    Returns:
        The policy difference under the state representation.
    """
    _check_tv("eps_pi", eps_pi)
    _check_nonneg("eps_s", eps_s)
    _check_nonneg("c_pi", c_pi)
    return jnp.asarray(eps_pi) + 0.5 * jnp.asarray(c_pi) * jnp.asarray(eps_s)


def _lemma5(eps_pi, eps_t, r_max, gamma):
    g = jnp.asarray(gamma)
    return 2.0 * r_max * g * (eps_pi + eps_t) / (1.0 - g) ** 2 + 2.0 * r_max * eps_pi / (1.0 - g)


def lemma5(eps_pi: ArrayLike, eps_t: ArrayLike, r_max: ArrayLike, gamma: ArrayLike) -> Float[Array, "*b"]:
    """Eq. 23: ``|G^1(pi_1) - G^2(pi_2)| <= 2 R gamma (eps_pi + eps_t)/(1-gamma)^2 + 2 R eps_pi/(1-gamma)``.

    The errors are not range-checked against 1 here because compositions pass the (possibly > 1)
    outputs of Lemmas 3-4; they must be >= 0.

    Arguments:
        eps_pi: policy difference (>= 0).
        eps_t: dynamics difference (>= 0).
        r_max: largest absolute reward R (>= 0).
        gamma: discount in [0, 1).

    Returns:
        The bound on the difference of discounted returns.
    """
    _check_nonneg("eps_pi", eps_pi)
    _check_nonneg("eps_t", eps_t)
    _check_nonneg("r_max", r_max)
    _check_gamma(gamma)
    return _lemma5(jnp.asarray(eps_pi), jnp.asarray(eps_t), jnp.asarray(r_max), gamma)


def _theorem6(c: BoundConstants):
    g = jnp.asarray(c.gamma)
    first = c.r_max * g * (4.0 * c.eps_pi + 2.0 * c.eps_t + (c.c_pi + 2.0 * c.c_t) * c.eps_s) / (1.0 - g) ** 2
    second = 2.0 * c.r_max * (2.0 * c.eps_pi + c.c_pi * c.eps_s) / (1.0 - g)
    return first, second


def theorem6(c: BoundConstants) -> Float[Array, "*b"]:
    """Eq. 24, the generalization bound ``|G~^i(pi) - G~_theta(pi)|`` on the Meta-POMDP.

    ``R gamma [4 eps_pi + 2 eps_T + (C_pi + 2 C_T) eps_S] / (1-gamma)^2``
    ``+ 2 R (2 eps_pi + C_pi eps_S) / (1-gamma)``

    Arguments:
        c: the constants (validated; broadcasting over array-valued fields is allowed).

    Returns:
        The bound (same broadcast shape as the constants).
    """
    validate_constants(c)
    first, second = _theorem6(_as_arrays(c))
    return first + second


def theorem6_terms(c: BoundConstants) -> dict[str, Float[Array, "*b"]]:
    """Eq. 24 split by error source: the part of the bound carried by eps_T, eps_S and eps_pi.

    The bound is linear in the three errors, so the three parts sum to ``theorem6(c)``.

    Returns:
        ``{"eps_t": ..., "eps_s": ..., "eps_pi": ...}``.
    """
    validate_constants(c)
    c = _as_arrays(c)
    zero = jnp.zeros_like(c.eps_t)
    only = {
        "eps_t": c._replace(eps_s=zero, eps_pi=zero),
        "eps_s": c._replace(eps_t=zero, eps_pi=zero),
        "eps_pi": c._replace(eps_t=zero, eps_s=zero),
    }
    return {k: sum(_theorem6(v)) for k, v in only.items()}


def compose_substitution(c: BoundConstants) -> Float[Array, "*b"]:
    """Lemma 5 applied once to the errors of Lemmas 3 and 4: ``lemma5(lemma4(...), lemma3(...))``.

    This is the bound that follows from the three lemmas by direct substitution; it is below
    Theorem 6 by exactly ``theorem6_gap(c)``.
    """
    validate_constants(c)
    c = _as_arrays(c)
    return _lemma5(c.eps_pi + 0.5 * c.c_pi * c.eps_s, c.eps_t + c.c_t * c.eps_s, c.r_max, c.gamma)


def compose_triangle(c: BoundConstants) -> Float[Array, "*b"]:
    """Lemma 5 applied twice along a triangle inequality through the true-state return G^i(pi).

    Step 1 (representation only): policy error ``eps_pi + C_pi eps_S / 2``, no dynamics error.
    Step 2 (model and representation): policy error ``eps_pi + C_pi eps_S / 2``, dynamics
    ``eps_T + C_T eps_S``.
    The sum is above Theorem 6 by exactly ``R gamma C_pi eps_S / (1-gamma)^2``.
    """
    validate_constants(c)
    c = _as_arrays(c)
    pi = c.eps_pi + 0.5 * c.c_pi * c.eps_s
    return _lemma5(pi, jnp.zeros_like(pi), c.r_max, c.gamma) + _lemma5(
        pi, c.eps_t + c.c_t * c.eps_s, c.r_max, c.gamma
    )


def theorem6_gap(c: BoundConstants) -> Float[Array, "*b"]:
    """Closed form of ``theorem6(c) - compose_substitution(c)`` (always >= 0).

    ``2 R gamma eps_pi / (1-gamma)^2 + R (2 eps_pi + C_pi eps_S) / (1-gamma)``
    """
    validate_constants(c)
    c = _as_arrays(c)
    g = c.gamma
    first = 2.0 * c.r_max * g * c.eps_pi / (1.0 - g) ** 2
    return jnp.asarray(first + c.r_max * (2.0 * c.eps_pi + c.c_pi * c.eps_s) / (1.0 - g))


def _as_arrays(c: BoundConstants) -> BoundConstants:
    return BoundConstants(*(jnp.asarray(v, dtype=jnp.result_type(float)) for v in c))
