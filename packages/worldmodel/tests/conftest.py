"""Shared small config and synthetic data, so that jitted functions compile once per session."""

import pytest
from wm_testing import smoke_config

from mrcom.worldmodel import WorldModelConfig, synthetic_data


@pytest.fixture(scope="session")
def data():
    return synthetic_data(num_scenarios=6, episodes_per_scenario=4, episode_length=40, seed=0)


@pytest.fixture(scope="session")
def heldout():
    return synthetic_data(num_scenarios=4, episodes_per_scenario=2, episode_length=40, seed=123)


@pytest.fixture(scope="session")
def config():
    return smoke_config(WorldModelConfig, steps_per_call=10, eval_windows=16, eval_burn_in=4)
