"""Joint order by name (core/joint_map.py): a ros2_control robot's joint states and a controller's commands."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesa_ros.core.joint_map import JointMap
from mesa_ros.envs import env_class, make, model_joint_names

ENV = "HalfCheetah-Disabled"
JOINTS = model_joint_names(ENV)
ACTUATORS = env_class(ENV).actuator_names


def test_the_model_joints_are_the_simulators():
    assert JOINTS == ("rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
    with pytest.raises(ValueError, match="not a MuJoCo robot"):
        model_joint_names("Navigation-2")


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(len(JOINTS) + 2)))
def test_shuffled_joint_states_with_extra_joints_give_the_environments_observation(order):
    env = make(ENV)
    obs, _ = env.reset(seed=1)
    data = env.unwrapped.data
    names = [*JOINTS, "gripper", "camera_pan"]
    position = [*data.qpos, 0.3, -1.0]
    velocity = [*data.qvel, 2.0, 5.0]
    jmap = JointMap(JOINTS, ACTUATORS)
    qpos, qvel = jmap.state([names[i] for i in order], [position[i] for i in order], [velocity[i] for i in order])
    np.testing.assert_array_equal(env.unwrapped.observation_from(qpos, qvel), obs)


def test_a_missing_joint_is_named_and_bad_values_are_refused():
    jmap = JointMap(JOINTS, ACTUATORS)
    names = [j for j in JOINTS if j != "rooty"]
    with pytest.raises(ValueError, match=r"joint state lacks \['rooty'\]"):
        jmap.state(names, np.zeros(8), np.zeros(8))
    with pytest.raises(ValueError, match="9 names but 9 positions and 0 velocities"):
        jmap.state(JOINTS, np.zeros(9), [])
    with pytest.raises(ValueError, match="NaN or infinite"):
        jmap.state(JOINTS, [np.nan, *np.zeros(8)], np.zeros(9))


def test_controller_order_round_trips_and_bad_commands_are_refused():
    order = ("ffoot", "bthigh", "fshin", "bshin", "fthigh", "bfoot")
    jmap = JointMap(JOINTS, ACTUATORS, order)
    values = np.arange(6.0) / 10
    action = jmap.command_to_env(values)
    assert action[ACTUATORS.index("ffoot")] == 0.0 and action[ACTUATORS.index("bthigh")] == 0.1
    np.testing.assert_array_equal(jmap.env_to_command(action), values)
    with pytest.raises(ValueError, match="command has 5 values; the controller has 6 joints"):
        jmap.command_to_env(values[:5])
    with pytest.raises(ValueError, match="NaN or infinite"):
        jmap.command_to_env([0, 0, np.nan, 0, 0, 0])
    with pytest.raises(ValueError, match=r"missing \['ffoot'\], unknown \['tail'\]"):
        JointMap(JOINTS, ACTUATORS, ("tail", "bthigh", "fshin", "bshin", "fthigh", "bfoot"))
