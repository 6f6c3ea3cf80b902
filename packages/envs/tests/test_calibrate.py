"""The reward leaves headroom: policies that do not track the target score low on every protocol."""

import dataclasses

import numpy as np
import pytest

from mrcom.envs import PROTOCOLS, ROBOTS
from mrcom.envs._calibrate import policy_returns, still_upright_return, tracking_return

TABLE_PROTOCOLS = [n for n in PROTOCOLS if n.startswith(("table1", "table2"))]
# the ceilings for a policy that holds its pose upright (table1-a, then every other protocol)
POSE_CEILING = {"table1-a": 50.0}
POSE_CEILING_OTHER = 35.0
ZERO_CEILING = 30.0


@pytest.mark.parametrize("name", TABLE_PROTOCOLS)
def test_a_still_upright_robot_scores_low_and_a_tracking_one_high(name):
    targets = PROTOCOLS[name].eval.sample(3000, seed=5)
    for robot in ROBOTS:
        sel = [s for s in targets if s.robot == robot]
        still = float(still_upright_return(sel).mean())
        # still-upright bounds every policy that does not move, the cheetah's zero action included
        assert still <= min(ZERO_CEILING, POSE_CEILING.get(name, POSE_CEILING_OTHER)), (robot, still)
        assert float(tracking_return(sel).min()) >= 90.0


@pytest.mark.parametrize("robot", ROBOTS)
def test_zero_and_pose_policies_earn_no_more_than_standing_still(robot):
    dist = dataclasses.replace(PROTOCOLS["table1-a"].eval, robots=(robot,))
    targets = dist.sample(3, seed=1)
    still = still_upright_return(targets)
    zero = policy_returns(targets, "zero", episode_length=300)
    pose = policy_returns(targets, "pose", episode_length=300)
    rand = policy_returns(targets, "random", episode_length=300)
    assert np.all(zero <= still + 1.0), (zero, still)
    assert float(rand.mean()) < 30.0, rand
    # the pose-holding policy really holds the pose: it earns about what a still, upright robot earns
    assert np.all(np.abs(pose - still) <= 0.1 * still + 1.0), (pose, still)
    if robot != "cheetah":  # hopper and walker slump without control
        assert float(zero.mean()) < float(pose.mean()) - 5.0
