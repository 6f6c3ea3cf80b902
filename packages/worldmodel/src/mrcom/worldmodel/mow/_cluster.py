"""Gradient-based task clustering: scenarios whose loss gradients align share an expert.

    g_s   = d L_s / d theta_shared      (L_s: the loss on `cluster_windows` windows of scenario s,
                                         without free nats: a floor would zero the gradient of the
                                         steps already predicted within it)
    g_s  <- g_s - mean_s' g_s'          (`center_gradients`: what each scenario asks beyond the average)
    C_ss' = cos(g_s, g_s')
    average-linkage agglomerative clustering of C into `num_experts` clusters -> one expert each

theta_shared is everything every scenario trains: the Transformer backbone (token embedding,
attention, shared feed-forward, norms) and the prior and reward heads; not the VAE modules nor the
experts. A re-clustering relabels its clusters to keep each expert on the scenarios it had
(`match_labels`). The similarity is jitted; the clustering is a few numpy lines on the S x S matrix.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PRNGKeyArray

from .._data import Batch, SequenceSource, window
from .._jit import jit_by_config
from ._losses import compute_loss
from ._model import MoW


def _shared(model: MoW):
    d = model.dynamics
    return (d.token, d.token_norm, d.blocks, d.out_norm, model.prior_head, model.reward_head)


def shared_params(model: MoW):
    """The shared parameters theta_shared (a pytree of the model's parts; see the module docstring)."""
    return eqx.filter(_shared(model), eqx.is_inexact_array)


def with_shared(model: MoW, shared) -> MoW:
    """`model` with its shared parts replaced by `shared` (same structure as `shared_params`)."""
    parts = eqx.combine(shared, eqx.filter(_shared(model), eqx.is_inexact_array, inverse=True))
    return eqx.tree_at(_shared, model, parts)


def scenario_batch(
    src: SequenceSource, scenario: Array, key: PRNGKeyArray, windows: int, seq_len: int, context_len: int
) -> tuple[Batch, Array]:
    """`windows` uniform windows of the episodes of `scenario`, and whether it has any episode."""
    ke, ks = jax.random.split(key)
    num_episodes, length = src.action.shape[:2]
    mine = (src.scenario_id == scenario).astype(jnp.float32)
    present = jnp.sum(mine) > 0
    p = jnp.where(present, mine / jnp.maximum(jnp.sum(mine), 1.0), 1.0 / num_episodes)
    episodes = jax.random.choice(ke, num_episodes, (windows,), p=p)
    starts = jax.random.randint(ks, (windows,), 0, length - seq_len + 1)
    batch = jax.vmap(window, (None, 0, 0, None, None))(src, episodes, starts, seq_len, context_len)
    return batch, present


@jit_by_config(lambda model, *args: model.config.fast_compile)
def scenario_gradients(model: MoW, src: SequenceSource, key: PRNGKeyArray) -> tuple[Array, Array]:
    """The flattened gradient of the shared parameters on each scenario's windows.

    Returns:
        (gradients (S, P), present (S,) bool: the scenario has episodes; absent rows are 0).
    """
    c = model.config

    def one(inputs):
        s, k = inputs
        kb, kl = jax.random.split(k)
        batch, present = scenario_batch(src, s, kb, c.cluster_windows, c.seq_len, c.context_len)
        loss = lambda p: compute_loss(with_shared(model, p), batch, kl, free_nats=0.0)[0]
        g = ravel_pytree(jax.grad(loss)(shared_params(model)))[0]
        return jnp.where(present, g, 0.0), present

    s = jnp.arange(c.num_scenarios)
    return jax.lax.map(one, (s, jax.random.split(key, c.num_scenarios)))


def gradient_similarity(grads: Array, present: Array, center: bool = True) -> Array:
    """Cosine similarity (S, S) of per-scenario gradients (centred over the present ones when `center`).

    A scenario without episodes (or with a zero gradient) has similarity 0 to every other.
    """
    g = jnp.asarray(grads, jnp.float32)
    w = jnp.asarray(present, jnp.float32)[:, None]
    if center:
        g = (g - jnp.sum(g * w, axis=0) / jnp.maximum(jnp.sum(w), 1.0)) * w
    norm = jnp.linalg.norm(g, axis=1, keepdims=True)
    u = g / jnp.where(norm > 0, norm, 1.0)
    return u @ u.T


def cluster_tasks(similarity: np.ndarray, num_clusters: int) -> np.ndarray:
    """Average-linkage agglomerative clustering of a similarity matrix into `num_clusters` clusters.

    Starts from singletons and merges the pair of clusters with the highest mean pairwise
    similarity until `num_clusters` remain (ties: the lowest indices). Deterministic.

    Returns:
        labels (S,) int32 in [0, min(num_clusters, S)), numbered by each cluster's first scenario.
    """
    sim = np.asarray(similarity, np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"similarity.shape={sim.shape}: must be (S, S)")
    if num_clusters < 1:
        raise ValueError(f"num_clusters={num_clusters}: must be >= 1")
    clusters = [[i] for i in range(sim.shape[0])]
    while len(clusters) > num_clusters:
        best, pair = -np.inf, (0, 1)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                link = sim[np.ix_(clusters[a], clusters[b])].mean()
                if link > best:
                    best, pair = link, (a, b)
        a, b = pair
        clusters[a] = sorted(clusters[a] + clusters.pop(b))
    labels = np.zeros(sim.shape[0], np.int32)
    for i, members in enumerate(sorted(clusters)):
        labels[members] = i
    return labels


def match_labels(new: np.ndarray, old: np.ndarray, num_experts: int) -> np.ndarray:
    """Relabel clusters `new` to experts so that each expert keeps as many of its scenarios (`old`,
    -1 = none) as possible (greedy on the overlap counts; ties: lower indices). First clustering
    (all old -1): the labels as they are."""
    new, old = np.asarray(new, np.int32), np.asarray(old, np.int32)
    if np.all(old < 0):
        return new
    overlap = np.zeros((int(new.max()) + 1, num_experts), np.int64)
    for n, o in zip(new, old, strict=True):
        if o >= 0:
            overlap[n, o] += 1
    mapping: dict[int, int] = {}
    free = list(range(num_experts))
    for _ in range(overlap.shape[0]):
        rows = [r for r in range(overlap.shape[0]) if r not in mapping]
        r, e = max(((r, e) for r in rows for e in free), key=lambda re: (overlap[re], -re[0], -re[1]))
        mapping[r] = e
        free.remove(e)
    return np.asarray([mapping[int(n)] for n in new], np.int32)


def cluster_model(model: MoW, src: SequenceSource, key: PRNGKeyArray, step: int) -> tuple[MoW, np.ndarray]:
    """Cluster the training scenarios by their gradients and allocate the experts (at `step`).

    Returns:
        (model with `routing.assignment` and `routing.clustered_at` set, similarity matrix (S, S)).
    """
    c = model.config
    grads, present = scenario_gradients(model, src, key)
    sim = np.asarray(gradient_similarity(grads, present, c.center_gradients))
    labels = cluster_tasks(sim, min(c.num_experts, c.num_scenarios))
    labels = match_labels(labels, np.asarray(model.routing.assignment), c.num_experts)
    routing = eqx.tree_at(
        lambda r: (r.assignment, r.clustered_at),
        model.routing,
        (jnp.asarray(labels, jnp.int32), jnp.asarray(step, jnp.int32)),
    )
    return eqx.tree_at(lambda m: m.routing, model, routing), sim


def next_cluster_step(model: MoW) -> int | None:
    """The step of the next clustering: `cluster_at`, then every `recluster_every` (None: no more)."""
    c, last = model.config, int(model.routing.clustered_at)
    if last < 0:
        return c.cluster_at
    return last + c.recluster_every if c.recluster_every > 0 else None
