"""PipelineConfig: presets, override forms, round trip, validation messages."""

import subprocess
import sys

import pytest

from mrcom.agents import PRESETS, WORLDMODEL_SECTIONS, PipelineConfig, preset
from mrcom.envs import ACT_DIM, OBS_DIM
from mrcom.worldmodel import TRAINING_BUDGETS, WorldModelConfig


def test_override_forms_and_round_trip():
    cfg = preset(
        "quick",
        "table2-b",
        seed=3,
        ablation="wo_c",
        adapt={"real_steps": 5000},
        **{"worldmodel.lambda_s": 0.5, "sac.hidden": [64, 64]},
    )
    assert (cfg.protocol, cfg.seed, cfg.preset, cfg.ablation) == ("table2-b", 3, "quick", "wo_c")
    assert cfg.adapt.real_steps == 5000 and cfg.worldmodel.lambda_s == 0.5 and cfg.sac.hidden == (64, 64)
    # derived world-model fields follow the pipeline
    assert cfg.worldmodel.ablation == "wo_c" and not cfg.worldmodel.use_context
    assert (cfg.worldmodel.obs_dim, cfg.worldmodel.act_dim) == (OBS_DIM, ACT_DIM)
    assert cfg.worldmodel.num_scenarios == cfg.envs.num_train_scenarios - cfg.envs.num_heldout_scenarios
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg
    assert PipelineConfig.from_json(cfg.to_json()) == cfg
    assert cfg.replace(seed=4).seed == 4 and cfg.replace(seed=4).adapt.real_steps == 5000


def test_presets_differ_in_scale():
    s, q, p = preset("smoke"), preset("quick"), preset("paper")
    assert s.adapt.real_steps < q.adapt.real_steps < p.adapt.real_steps
    assert p.envs.engine == "mjx" and p.envs.episode_length == 1000 and s.envs.engine == "native"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"protocol": "table9"}, "protocol='table9'"),
        ({"ablation": "wo_x"}, "ablation='wo_x'"),
        ({"adapt.real_ratio": 1.5}, r"adapt.real_ratio=1.5: must be in \[0.0, 1.0\]"),
        ({"adapt.updates_per_step": 0}, "adapt.updates_per_step=0"),
        ({"adapt.methods": ["mrcom"]}, "must include 'sac'"),
        ({"envs.engine": "gpu"}, "envs.engine='gpu'"),
        ({"collect.bogus": 1}, r"collect keys \['bogus'\]: unknown"),
        ({"worldmodel.seq_len": 500}, "worldmodel.seq_len=500"),
    ],
)
def test_bad_values_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        preset("smoke", **kwargs)


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset='huge'"):
        preset("huge")


@pytest.mark.parametrize("module", ["cli.collect", "cli.train", "cli.adapt", "cli.pipeline", "evaluate"])
def test_cli_help(module, capsys):
    import importlib

    main = importlib.import_module(f"mrcom.agents.{module}").main
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--preset" in out and "--set" in out


def test_cli_overrides_parse():
    from mrcom.agents._cli import config_from_args, parser

    args = parser("x").parse_args(
        [
            "--preset",
            "smoke",
            "--protocol",
            "table3-add_d",
            "--set",
            "adapt.real_steps=60",
            "--set",
            "sac.hidden=[8,8]",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.protocol == "table3-add_d" and cfg.adapt.real_steps == 60 and cfg.sac.hidden == (8, 8)
    with pytest.raises(ValueError, match="SECTION.FIELD=VALUE"):
        config_from_args(parser("x").parse_args(["--set", "oops"]))


@pytest.mark.parametrize("method, utd", [("mrcom", 3), ("sac", 1)])
def test_mbpo_has_its_own_update_to_data_ratio(method, utd, monkeypatch):
    from types import SimpleNamespace

    from mrcom.agents import _stages, adapt_method, target_scenarios

    seen = {}

    def fake_run_host(env, learner, *args, **kwargs):
        seen["utd"] = learner.cfg.updates_per_step
        raise StopIteration

    monkeypatch.setattr(_stages, "run_host", fake_run_host)
    cfg = preset("smoke", **{"adapt.updates_per_step": 3, "sac.updates_per_step": 1})
    model = SimpleNamespace(spec=SimpleNamespace(context_len=2))  # MBPO reads only its context length here
    with pytest.raises(StopIteration):
        adapt_method(cfg, method, target_scenarios(cfg)[:1], model=model, progress=False)
    assert seen["utd"] == utd


def test_validation_targets_are_disjoint_from_test_targets():
    from mrcom.agents import target_scenarios

    test = target_scenarios(preset("quick", "table1-b", **{"envs.num_targets": 30}))
    val = target_scenarios(
        preset("quick", "table1-b", **{"envs.num_targets": 30, "envs.target_split": "validation"})
    )
    assert test == target_scenarios(preset("quick", "table1-b", **{"envs.num_targets": 30}))  # reproducible
    assert not set(test) & set(val)
    assert [s.robot for s in test] == [s.robot for s in val]  # same robots in turn, different scenarios
    with pytest.raises(ValueError, match="envs.target_split='train'"):
        preset("quick", **{"envs.target_split": "train"})
    with pytest.raises(ValueError, match="envs.ood_sampling='inside'"):
        preset("quick", **{"envs.ood_sampling": "inside"})


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_name_means_one_world_model_everywhere(name):
    """The pipeline's world model of preset `name` is `WorldModelConfig.preset(name)`: only the fields
    the pipeline derives from its scenarios (widths, training scenarios, ablation) are its own."""
    cfg = preset(name)
    derived = ("obs_dim", "act_dim", "num_scenarios", "ablation")
    own = WorldModelConfig.preset(name, **{k: getattr(cfg.worldmodel, k) for k in derived})
    assert cfg.worldmodel == own
    # every world model trains for the one budget of the preset (mrcom.worldmodel.TRAINING_BUDGETS)
    for section in WORLDMODEL_SECTIONS.values():
        wm = getattr(cfg, section).to_dict()
        assert {k: wm[k] for k in TRAINING_BUDGETS[name]} == TRAINING_BUDGETS[name], section


def test_the_config_layer_imports_no_jax():
    """Configs, presets, `--set` overrides, workdirs and writers load without JAX (a fresh interpreter)."""
    code = (
        "import sys\n"
        "from mrcom.agents import (ABLATIONS, METHODS, PRESETS, PipelineConfig, Workdir, atomic_write_json,\n"
        "    parse_overrides, preset)\n"
        "preset('smoke').to_json()\n"
        "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if m.startswith('jax'))[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_public_name_resolves():
    import mrcom.agents as agents

    assert set(agents.__all__) <= set(dir(agents))
    for name in agents.__all__:
        assert getattr(agents, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = agents.no_such_name


def test_importing_a_command_keeps_the_function_of_its_name():
    """The commands live in `mrcom.agents.cli`: importing one leaves `mrcom.agents.collect` a function."""
    import types

    import mrcom.agents as agents
    import mrcom.agents.cli.collect  # noqa: F401

    assert callable(agents.collect) and not isinstance(agents.collect, types.ModuleType)
