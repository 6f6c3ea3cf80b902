import dataclasses
import json
import math

import pytest

from mrcom.envs import PROTOCOLS, V_MAX, Scenario, ScenarioDistribution


def test_json_round_trip_and_hash():
    s = Scenario("walker", 1.07, 0.93, 1.234567891234, "msk_f", 0.2, 17)
    t = Scenario.from_json(s.to_json())
    assert t == s and hash(t) == hash(s)
    assert Scenario.from_dict(json.loads(s.to_json())) == s
    assert len({s, t, Scenario("walker")}) == 2
    with pytest.raises(AttributeError):
        s.robot = "hopper"


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"robot": "ant"}, ["robot", "'ant'", "hopper"]),
        ({"robot": "hopper", "length_scale": 0.0}, ["length_scale", "0.0", "[0.25, 2.0]"]),
        ({"robot": "hopper", "size_scale": math.nan}, ["size_scale", "nan"]),
        ({"robot": "hopper", "target_speed": -1}, ["target_speed", "-1", ">= 0"]),
        ({"robot": "hopper", "obs_fn": "blur"}, ["obs_fn", "'blur'", "msk_r"]),
        ({"robot": "hopper", "seed": -3}, ["seed", "-3"]),
    ],
)
def test_scenario_bad_input_names_field_value_allowed(kw, words):
    with pytest.raises(ValueError) as e:
        Scenario(**kw)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"alpha": -5.0}, ["alpha", "-5.0", "[0, 75.0]"]),
        ({"beta": -1.0}, ["beta", "-1.0", ">= 0"]),
        ({"robots": ("hopper", "ant")}, ["robots", "'ant'", "cheetah"]),
        ({"obs_fn": "nope"}, ["obs_fn", "'nope'", "identity"]),
    ],
)
def test_distribution_bad_input(kw, words):
    with pytest.raises(ValueError) as e:
        ScenarioDistribution(**kw)
    for w in words:
        assert w in str(e.value)


def test_sample_ranges_reproducible_and_balanced():
    d = ScenarioDistribution(alpha=10, beta=50, obs_fn="add_g")
    a, b = d.sample(60, seed=3), d.sample(60, seed=3)
    assert a == b and a != d.sample(60, seed=4)
    assert [s.robot for s in a[:3]] == ["hopper", "walker", "cheetah"]
    for s in a:
        assert 0.9 <= s.length_scale <= 1.1 and 0.9 <= s.size_scale <= 1.1
        assert 0 <= s.target_speed <= 0.5 * V_MAX[s.robot]
        assert s.obs_fn == "add_g"
    # the draws actually spread over the interval
    assert max(s.length_scale for s in a) > 1.07 and min(s.length_scale for s in a) < 0.93


def test_fixed_target_mode():
    d = ScenarioDistribution(alpha=5, fixed_target_fraction=0.5)
    for s in d.sample(6, seed=0):
        assert s.target_speed == pytest.approx(0.5 * V_MAX[s.robot])


def test_protocols_cover_design_table():
    expect = {
        "table1-a": ((5, 20), (5, 20)),
        "table1-b": ((5, 20), (10, 50)),
        "table1-c": ((10, 50), (10, 50)),
        "table1-d": ((10, 50), (20, 100)),
    }
    for name, ((ta, tb), (ea, eb)) in expect.items():
        p = PROTOCOLS[name]
        assert (p.train.alpha, p.train.beta, p.eval.alpha, p.eval.beta) == (ta, tb, ea, eb)
        assert p.train.fixed_target_fraction is None
    table2 = {"table2-a": (5, 5), "table2-b": (5, 10), "table2-c": (10, 10), "table2-d": (10, 20)}
    for name, (ta, ea) in table2.items():
        p = PROTOCOLS[name]
        assert (p.train.alpha, p.eval.alpha) == (ta, ea)
        assert p.train.fixed_target_fraction == p.eval.fixed_target_fraction == 0.5
    for fn in ("add_g", "add_d", "msk_r", "msk_f"):
        p = PROTOCOLS[f"table3-{fn}"]
        assert p.train.obs_fn == p.eval.obs_fn == fn
    assert PROTOCOLS["table1-a"].in_distribution and not PROTOCOLS["table1-b"].in_distribution
    assert ScenarioDistribution.from_dict(PROTOCOLS["table2-b"].eval.to_dict()) == PROTOCOLS["table2-b"].eval


@pytest.mark.parametrize("name", [n for n, p in PROTOCOLS.items() if not p.in_distribution])
def test_ood_targets_lie_outside_the_training_box(name):
    p = PROTOCOLS[name]
    targets = p.eval.sample(3000, seed=11)
    inside = [s for s in targets if p.train.in_box(s)]
    assert not inside, inside[:3]
    for s in targets:  # and still inside the wider box
        lo, hi = p.eval.scale_range()
        assert lo <= s.length_scale <= hi and lo <= s.size_scale <= hi
        assert (
            p.eval.target_range(s.robot)[0] - 1e-9 <= s.target_speed <= p.eval.target_range(s.robot)[1] + 1e-9
        )
    # the wider box, kept as a named option, does contain in-distribution draws
    wide = p.eval_distribution("wide").sample(3000, seed=11)
    assert sum(p.train.in_box(s) for s in wide) > 100
    with pytest.raises(ValueError, match="ood_sampling='inside'"):
        p.eval_distribution("inside")


def test_outside_box_that_contains_the_distribution_is_an_error():
    d = ScenarioDistribution(alpha=5, beta=20)
    with pytest.raises(ValueError, match="outside="):
        dataclasses.replace(d, outside=ScenarioDistribution(alpha=10, beta=50)).sample(3, seed=0)
    assert ScenarioDistribution.from_dict(PROTOCOLS["table1-d"].eval.to_dict()) == PROTOCOLS["table1-d"].eval
