"""The driver every world model's `imagine` shares: check the inputs, start the branch from the
filtered real prefix, roll it `horizon` steps under the policy, and assemble the `Imagined`.

A model supplies only its mechanism: a `start` that filters the prefix into its recurrent state
(a `Branch`), and the `Branch.advance` of one imagined step; `branch_imagine` makes its `imagine`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._seam import Context, Imagined, Prefix, act_at, branch_inputs, stack_branch

M = TypeVar("M", contravariant=True)  # the model type of an `Imagine`


class Branch(NamedTuple):
    """The start of an imagined branch (batched over B) and how it steps.

    carry: the model's state at the start (any pytree, the scan carry besides the observation).
    latent: (B, Z) the start's latent (`Imagined.latent[:, 0]`).
    advance: advance(carry, obs (B, O), action (B, A), *keys) -> (carry, next obs (B, O),
        reward (B,), latent (B, Z)): one imagined step from obs under the (masked) action; keys:
        the step's keys after the policy's.
    """

    carry: Any
    latent: Array
    advance: Callable[..., tuple[Any, Array, Array, Array]]


def roll_branch(
    branch: Branch,
    obs: Float[Array, "B O"],
    act: Callable[[Array, PRNGKeyArray, Array], Array],
    act_mask: Float[Array, "B A"],
    horizon: int,
    key: PRNGKeyArray,
    *,
    step_keys: int = 2,
) -> Imagined:
    """Roll `branch` `horizon` steps from the observations `obs` (B, O).

    Arguments:
        act: act(t, key, obs (B, O)) -> action (B, A) chooses a_t (masked by `act_mask` here).
        key: split into one key per step; each step's key is split into `step_keys`: the first
            for `act`, the rest for `branch.advance`.

    Returns:
        Imagined(obs (B, H+1, O) with obs[:, 0] = `obs`, action (B, H, A), reward (B, H),
        latent (B, H+1, Z) with latent[:, 0] = `branch.latent`).
    """

    def step(carry, inputs):
        t, k = inputs
        inner, o = carry
        ka, *ks = jax.random.split(k, step_keys)
        a = act(t, ka, o) * act_mask
        inner, o_next, r, z = branch.advance(inner, o, a, *ks)
        return (inner, o_next), (o_next, a, r, z)

    inputs = (jnp.arange(horizon), jax.random.split(key, horizon))
    _, (o, a, r, z) = jax.lax.scan(step, (branch.carry, obs), inputs)
    return stack_branch(obs, branch.latent, o, a, r, z)


class Imagine(Protocol[M]):
    """A world model's `imagine`: imagine(model, context, prefix, masks, policy, horizon, key, *, sample)
    -> `Imagined` (see `WorldModelKind.imagine`)."""

    def __call__(
        self,
        model: M,
        context: Context,
        prefix: Prefix,
        masks: tuple[Array, Array],
        policy: Callable[[PRNGKeyArray, Array], Array],
        horizon: int,
        key: PRNGKeyArray,
        *,
        sample: bool = True,
    ) -> Imagined: ...


def branch_imagine(
    start: Callable[[M, Context, Prefix, Array, Array, PRNGKeyArray, bool], Branch],
    doc: str,
    *,
    filter_key: bool = True,
    step_keys: int = 2,
) -> Imagine[M]:
    """The `imagine` of a model whose mechanism is `start`: the inputs checked (`branch_inputs`), the
    branch started by `start(model, context, prefix, obs_mask, act_mask, key, sample)` and rolled
    from the masked last prefix observation under `policy` (a callable or an `OpenLoop`).

    Arguments:
        doc: the docstring of the model's `imagine`.
        filter_key: `imagine`'s key splits into `start`'s and the rollout's (False: a `start` that
            draws nothing gets the rollout's key too).
        step_keys: see `roll_branch`.

    Returns:
        imagine(model, context, prefix, masks, policy, horizon, key, *, sample=True) -> `Imagined`,
        whose docstring is `doc`.
    """

    def imagine(model, context, prefix, masks, policy, horizon, key, *, sample=True):
        context, prefix, obs_mask, act_mask = branch_inputs(model.spec.context_len, context, prefix, masks)
        k_start, key = jax.random.split(key) if filter_key else (key, key)
        branch = start(model, context, prefix, obs_mask, act_mask, k_start, sample)
        act = lambda t, k, o: act_at(policy, t, k, o)
        return roll_branch(
            branch, prefix.obs[:, -1] * obs_mask, act, act_mask, horizon, key, step_keys=step_keys
        )

    imagine.__doc__ = doc
    return imagine


def per_sequence(
    filter_one: Callable[[Context, Prefix, Array, Array, PRNGKeyArray], Any],
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, "B O"],
    act_mask: Float[Array, "B A"],
    key: PRNGKeyArray,
) -> Any:
    """`filter_one(context, prefix, obs_mask, act_mask, key)` of one sequence, over the batch B,
    each sequence with its own key of `split(key, B)`."""
    keys = jax.random.split(key, prefix.obs.shape[0])
    return jax.vmap(filter_one)(context, prefix, obs_mask, act_mask, keys)
