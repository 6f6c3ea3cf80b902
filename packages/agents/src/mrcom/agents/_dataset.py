"""Multi-scenario dataset on disk: one compressed .npz shard per scenario plus manifest.json.

Layout of `<dir>/`:

- `manifest.json`: `format`, `robots`, `obs_dim`, `act_dim` (padded widths), `episode_length`,
  `prompt_episodes`, `seed`, `scenarios` (the planned list of scenario dicts, in order) and
  `shards`: one entry per *finished* scenario with `index`, `file`, `scenario`, `robot`,
  `obs_mask`, `act_mask`, `episodes`, `steps`, `sha256`.
- `scenario_<index>.npz`: `obs (E, L+1, O)`, `action (E, L, A)`, `reward (E, L)` (every transition
  of the behaviour policy, in episodes), `prompt_obs (K, L+1, O)`, `prompt_action (K, L, A)`,
  `prompt_reward (K, L)` (expert episodes of the final policy), `obs_mask (O,)`, `act_mask (A,)`.

Shards and manifest are written atomically; the manifest is rewritten after every finished shard,
so a killed collection resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrcom.envs import Scenario
from mrcom.worldmodel import MultiScenarioData

from ._config import PROMPT_KINDS
from ._io import atomic_savez, atomic_write_json, sha256_file

FORMAT_VERSION = 1
DATASET_MANIFEST = "manifest.json"
_SHARD_KEYS = (
    "obs",
    "action",
    "reward",
    "prompt_obs",
    "prompt_action",
    "prompt_reward",
    "obs_mask",
    "act_mask",
)


def shard_name(index: int) -> str:
    return f"scenario_{index:04d}.npz"


def new_manifest(
    scenarios: Sequence[Scenario],
    obs_dim: int,
    act_dim: int,
    episode_length: int,
    prompt_episodes: int,
    seed: int,
) -> dict[str, Any]:
    """An empty manifest planning `scenarios`."""
    return {
        "format": FORMAT_VERSION,
        "robots": sorted({s.robot for s in scenarios}),
        "obs_dim": int(obs_dim),
        "act_dim": int(act_dim),
        "episode_length": int(episode_length),
        "prompt_episodes": int(prompt_episodes),
        "seed": int(seed),
        "scenarios": [s.to_dict() for s in scenarios],
        "shards": [],
    }


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check `<path>/manifest.json`."""
    f = Path(path) / DATASET_MANIFEST
    if not f.exists():
        raise ValueError(f"dataset={str(path)!r}: no {DATASET_MANIFEST}; run mrcom-collect first")
    try:
        m = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not valid JSON ({e})") from None
    if m.get("format") != FORMAT_VERSION:
        raise ValueError(f"{f}: format={m.get('format')!r}: must be {FORMAT_VERSION}")
    return m


def write_shard(path: Path, manifest: dict[str, Any], index: int, scenario: Scenario, arrays: dict) -> None:
    """Write scenario `index`'s shard atomically, then record it in the manifest (also atomic)."""
    path = Path(path)
    arrays = {k: np.asarray(arrays[k], np.float32) for k in _SHARD_KEYS}
    _check_arrays(arrays, manifest, shard_name(index))
    atomic_savez(path / shard_name(index), **arrays)
    entry = {
        "index": int(index),
        "file": shard_name(index),
        "scenario": scenario.to_dict(),
        "robot": scenario.robot,
        "obs_mask": arrays["obs_mask"].tolist(),
        "act_mask": arrays["act_mask"].tolist(),
        "episodes": int(arrays["obs"].shape[0]),
        "steps": int(arrays["reward"].size),
        "sha256": sha256_file(path / shard_name(index)),
    }
    manifest["shards"] = sorted(
        [e for e in manifest["shards"] if e["index"] != index] + [entry], key=lambda e: e["index"]
    )
    atomic_write_json(path / DATASET_MANIFEST, manifest)


def _check_arrays(arrays: dict, manifest: dict, name: str) -> None:
    o, a, length = manifest["obs_dim"], manifest["act_dim"], manifest["episode_length"]
    e = arrays["obs"].shape[0] if arrays["obs"].ndim == 3 else -1
    k = arrays["prompt_obs"].shape[0] if arrays["prompt_obs"].ndim == 3 else -1
    expect = {
        "obs": (e, length + 1, o),
        "action": (e, length, a),
        "reward": (e, length),
        "prompt_obs": (k, length + 1, o),
        "prompt_action": (k, length, a),
        "prompt_reward": (k, length),
        "obs_mask": (o,),
        "act_mask": (a,),
    }
    for key, shape in expect.items():
        if arrays[key].shape != shape:
            raise ValueError(
                f"shard {name}: {key}.shape={arrays[key].shape}: must be {shape} (manifest dims)"
            )
    if e < 1 or k < 1:
        raise ValueError(f"shard {name}: needs >= 1 episode and >= 1 prompt episode (got {e}, {k})")


def load_shard(path: Path, entry: dict[str, Any], manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Load one shard, verifying its checksum, dims and masks against the manifest."""
    f = Path(path) / entry["file"]
    if not f.exists():
        raise ValueError(f"shard {entry['file']}: missing from {path}")
    digest = sha256_file(f)
    if digest != entry["sha256"]:
        raise ValueError(
            f"shard {entry['file']}: sha256 {digest[:12]}... != manifest {entry['sha256'][:12]}..."
        )
    try:
        with np.load(f) as z:
            arrays = {k: z[k] for k in _SHARD_KEYS}
    except Exception as e:  # noqa: BLE001 - any decoding problem is reported with the shard name
        raise ValueError(f"shard {entry['file']}: cannot be read ({type(e).__name__}: {e})") from None
    _check_arrays(arrays, manifest, entry["file"])
    for key in ("obs_mask", "act_mask"):
        if not np.array_equal(arrays[key], np.asarray(entry[key], np.float32)):
            raise ValueError(f"shard {entry['file']}: {key} differs from the manifest")
    if arrays["obs"].shape[0] != entry["episodes"]:
        raise ValueError(
            f"shard {entry['file']}: {arrays['obs'].shape[0]} episodes != manifest {entry['episodes']}"
        )
    return arrays


def dataset_scenarios(path: Path) -> list[Scenario]:
    """The scenarios of the finished shards, in index order."""
    return [Scenario.from_dict(e["scenario"]) for e in read_manifest(path)["shards"]]


def load_dataset(
    path: Path, indices: Sequence[int] | None = None, prompt: str = "first_episode"
) -> MultiScenarioData:
    """Load (a subset of) a finished dataset as `mrcom.worldmodel.MultiScenarioData`.

    Arguments:
        path: dataset directory.
        indices: positions in the manifest's finished shards to load (all when None); they become
            scenario ids 0..S-1 in that order.
        prompt: each scenario's prompt: "first_episode", its first behaviour episode (the random
            actions before the behaviour SAC's learning starts: the kind of prompt a new target
            gives at adaptation, its first real episode), or "expert", its K expert episodes
            joined end to end (P = K * L steps).

    Returns:
        `MultiScenarioData`.
    """
    if prompt not in PROMPT_KINDS:
        raise ValueError(f"prompt={prompt!r}: must be one of {PROMPT_KINDS}")
    path = Path(path)
    manifest = read_manifest(path)
    planned = len(manifest["scenarios"])
    if len(manifest["shards"]) != planned:
        raise ValueError(f"dataset={str(path)!r}: {len(manifest['shards'])} of {planned} shards finished")
    entries = manifest["shards"] if indices is None else [manifest["shards"][i] for i in indices]
    if not entries:
        raise ValueError(f"indices={indices!r}: must select at least one shard")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in MultiScenarioData._fields}
    for sid, entry in enumerate(entries):
        z = load_shard(path, entry, manifest)
        e = z["obs"].shape[0]
        parts["obs"].append(z["obs"])
        parts["action"].append(z["action"])
        parts["reward"].append(z["reward"])
        parts["scenario_id"].append(np.full(e, sid, np.int32))
        parts["obs_mask"].append(z["obs_mask"][None])
        parts["act_mask"].append(z["act_mask"][None])
        if prompt == "expert":
            po, pa, pr = join_prompt(z["prompt_obs"], z["prompt_action"], z["prompt_reward"])
        else:
            po, pa, pr = z["obs"][0], z["action"][0], z["reward"][0]
        parts["prompt_obs"].append(po[None])
        parts["prompt_action"].append(pa[None])
        parts["prompt_reward"].append(pr[None])
    return MultiScenarioData(**{k: np.concatenate(v) for k, v in parts.items()})


def join_prompt(obs: np.ndarray, action: np.ndarray, reward: np.ndarray):
    """K episodes (K, L+1, O) ... -> one prompt trajectory of P = K*L steps (episode seams kept as is)."""
    k, length = action.shape[:2]
    p_obs = np.concatenate([obs[:, :length].reshape(k * length, -1), obs[-1:, length]], axis=0)
    return p_obs, action.reshape(k * length, -1), reward.reshape(k * length)


def find_prompt(path: Path, scenario: Scenario):
    """The expert prompt of `scenario` if the dataset holds it, else None."""
    path = Path(path)
    manifest = read_manifest(path)
    for entry in manifest["shards"]:
        if Scenario.from_dict(entry["scenario"]) == scenario:
            z = load_shard(path, entry, manifest)
            return join_prompt(z["prompt_obs"], z["prompt_action"], z["prompt_reward"])
    return None
