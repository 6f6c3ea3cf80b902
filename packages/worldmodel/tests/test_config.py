import json

import pytest

from mrcom.worldmodel import PRESETS, WorldModelConfig


def test_json_round_trip_and_presets():
    for name in PRESETS:
        c = WorldModelConfig.preset(name, obs_dim=17, act_dim=6, num_scenarios=9, ablation="wo_c")
        assert WorldModelConfig.from_json(c.to_json()) == c
        assert WorldModelConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
        assert c.obs_dim == 17 and c.ablation == "wo_c" and not c.use_context
    small, big = WorldModelConfig.preset("smoke"), WorldModelConfig.preset("paper")
    assert small.d_dim < big.d_dim and small.hidden < big.hidden and small.context_len < big.context_len
    assert big.num_heads == 3 and big.num_layers == 2


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("lambda_s", -0.5, ">= 0"),
        ("lambda_var", -1.0, ">= 0"),
        ("context_len", 0, ">= 1"),
        ("d_dim", 0, ">= 1"),
        ("gamma", 1.0, "[0, 1)"),
        ("ablation", "wo_x", "one of"),
        ("state_reg", "split", "('posterior', 'literal')"),
        ("kl_direction", "forward", "('posterior_prior', 'prior_posterior')"),
        ("embed_dim", 50, "divisible"),
    ],
)
def test_bad_values_name_field_value_and_range(field, value, allowed):
    with pytest.raises(ValueError) as err:
        WorldModelConfig(**{field: value})
    msg = str(err.value)
    assert f"{field}={value!r}" in msg and allowed in msg


def test_unknown_keys_and_preset_rejected():
    with pytest.raises(ValueError, match="unknown"):
        WorldModelConfig.from_dict({"lambda_q": 1.0})
    with pytest.raises(ValueError, match="preset='huge'"):
        WorldModelConfig.preset("huge")


def test_loss_defaults_are_the_valid_bound():
    c = WorldModelConfig()
    assert c.kl_direction == "posterior_prior" and c.state_reg == "posterior"
    assert (
        WorldModelConfig(kl_direction="prior_posterior", state_reg="literal").kl_direction
        == "prior_posterior"
    )


def test_ablation_switches():
    full = WorldModelConfig(lambda_s=0.3, lambda_v=0.2)
    assert full.use_d and full.use_context
    assert full.weights["lambda_s"] == 0.3 and full.weights["lambda_v"] == 0.2
    assert not full.replace(ablation="wo_d").use_d
    assert full.replace(ablation="wo_ls").weights["lambda_s"] == 0.0
    assert full.replace(ablation="wo_lv").weights["lambda_v"] == 0.0
    assert full.replace(ablation="wo_lv").weights["lambda_s"] == 0.3


def test_every_registered_config_shares_one_budget_per_preset_and_loads_no_jax():
    """One preset name means one training budget for every world model: the budget fields come from
    `TRAINING_BUDGETS` alone (no model's preset restates them), every config class has the shared
    fields, and the configs and the registry's names are reachable without importing JAX."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mrcom.worldmodel import BUILTIN_KINDS, SharedConfig, TRAINING_BUDGETS, world_model_names\n"
        "import importlib\n"
        "for name, (pkg, _, config) in BUILTIN_KINDS.items():\n"
        "    cls = getattr(importlib.import_module(pkg), config)\n"
        "    assert issubclass(cls, SharedConfig), name\n"
        "    for preset, budget in TRAINING_BUDGETS.items():\n"
        "        assert not set(budget) & set(cls.PRESETS[preset]), (name, preset)\n"
        "        c = cls.preset(preset)\n"
        "        assert all(getattr(c, k) == v for k, v in budget.items()), (name, preset)\n"
        "assert world_model_names()[:6] == ('mrcom', 'mrcom-paper', 'cadm', 'dreamerv3', 'mow', 'mamba')\n"
        "assert 'jax' not in sys.modules, 'configs loaded JAX'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
