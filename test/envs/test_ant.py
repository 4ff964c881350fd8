"""Ant-Disabled: leg faults act on MuJoCo's actuator forces, constraint, invisibility, bad input (shared checks:
test_every_env.py)."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import mesa_ros.envs  # noqa: F401  (registers the environments)
from mesa_ros.envs.ant import LEGS, AntDisabledEnv

from mujoco_helpers import assert_unchanged, joint_force, snapshot

GEAR = 150.0
COMMAND = np.array([0.5, -0.4, 0.3, -0.6, 0.7, 0.8, -0.9, 0.2])


@pytest.fixture
def env() -> AntDisabledEnv:
    e = AntDisabledEnv()
    e.reset(seed=0)
    yield e
    e.close()


def test_actuators_are_named_and_ordered_leg_by_leg(env: AntDisabledEnv) -> None:
    assert env.actuator_names == ("hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4")
    for i, name in enumerate(env.actuator_names):
        assert env.model.joint(env.model.actuator_trnid[i, 0]).name == name  # each motor drives its joint
        assert env.model.actuator_gear[i, 0] == GEAR
    assert env.train_faults == LEGS[:3] and env.test_faults == (("hip_4", "ankle_4"),)


@pytest.mark.parametrize("leg", range(4))
def test_leg_fault_removes_the_force_of_both_its_actuators(env: AntDisabledEnv, leg: int) -> None:
    hip, ankle = env.leg_actuators(leg)
    state = snapshot(env)
    env.step(COMMAND)
    full = {j: joint_force(env, j) for j in env.actuator_names}
    assert full[hip] == pytest.approx(GEAR * COMMAND[2 * leg])
    assert full[ankle] == pytest.approx(GEAR * COMMAND[2 * leg + 1])

    env.set_state(state[1], state[2])
    env.set_leg_power_scale(leg, 0.0)
    env.step(COMMAND)
    assert joint_force(env, hip) == 0.0 and joint_force(env, ankle) == 0.0
    others = [j for j in env.actuator_names if j not in (hip, ankle)]
    assert all(joint_force(env, j) == pytest.approx(full[j]) for j in others)

    env.set_state(state[1], state[2])  # same state and command at half power: half the force
    env.set_leg_power_scale(leg, 0.5)
    env.step(COMMAND)
    assert joint_force(env, hip) == pytest.approx(0.5 * full[hip])
    assert joint_force(env, ankle) == pytest.approx(0.5 * full[ankle])

    env.clear_faults()
    env.step(COMMAND)
    assert joint_force(env, hip) == pytest.approx(full[hip]) and joint_force(env, ankle) == pytest.approx(full[ankle])


def test_leg_fault_through_task_and_reset_options(env: AntDisabledEnv) -> None:
    env.set_task(env.sample_task("test", np.random.default_rng(0)))
    assert env.power_scale.tolist() == [1.0] * 6 + [0.0, 0.0]
    env.reset(seed=1)
    assert env.power_scale.tolist() == [1.0] * 6 + [0.0, 0.0]  # a broken leg stays broken across reset
    env.reset(options={"task": {"power_scale": {"hip_2": 0.0, "ankle_2": 0.0}}})
    assert env.power_scale.tolist() == [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


def test_no_violation_standing_or_in_a_short_random_rollout() -> None:
    env = gym.make("mesa_ros/AntDisabled-v0")
    for seed in range(2):
        env.reset(seed=seed)
        standing = [env.step(np.zeros(8))[4]["cost"] for _ in range(150)]
        assert sum(standing) == 0.0
        env.reset(seed=seed)
        env.action_space.seed(seed)
        random = [env.step(env.action_space.sample())[4]["cost"] for _ in range(15)]
        assert sum(random) == 0.0
    assert 0.3 < env.unwrapped.data.qpos[2] < 1.0  # the torso is above the floor


def test_no_unhealthy_termination(env: AntDisabledEnv) -> None:
    qpos = env.init_qpos.copy()
    qpos[2] = 1.5  # gymnasium's Ant would end the episode above z = 1.0
    env.set_state(qpos, np.zeros(env.model.nv))
    _, _, terminated, truncated, info = env.step(np.zeros(8))
    assert not terminated and not truncated and not info["c"]


def test_reward_is_forward_velocity_plus_healthy_minus_control_cost(env: AntDisabledEnv) -> None:
    x0 = env.data.qpos[0]
    _, reward, _, _, info = env.step(np.full(8, 2.0))  # clipped to 1: control cost 0.5 * 8
    x_velocity = (env.data.qpos[0] - x0) / env.dt
    assert info["reward_ctrl"] == pytest.approx(-4.0)
    assert reward == pytest.approx(x_velocity + 1.0 - 4.0)


def test_observation_never_reveals_the_fault(env: AntDisabledEnv) -> None:
    for _ in range(5):
        env.step(COMMAND)
    qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
    observations = []
    test_fault = env.sample_task("test", np.random.default_rng(0))
    for task in ({"power_scale": {}}, test_fault, {"power_scale": {"hip_1": 0.5}}):
        env.set_task(task)
        env.set_state(qpos, qvel)
        observations.append((env._get_obs(), env.step(COMMAND)[0]))
    before = [o for o, _ in observations]
    after = [o for _, o in observations]
    for o in before[1:]:
        np.testing.assert_array_equal(o, before[0])
    assert not np.allclose(after[0], after[1]) and not np.allclose(after[0], after[2])
    np.testing.assert_array_equal(before[0], np.concatenate((qpos[2:], qvel)))  # no x, y, no task
    assert env.observation_space.shape == (27,)


def test_registered_horizon_and_spaces() -> None:
    env = gym.make("mesa_ros/AntDisabled-v0")
    assert env.spec.max_episode_steps == 1000
    assert env.action_space.shape == (8,)
    assert env.unwrapped.dt == pytest.approx(0.05)
    assert mesa_ros.envs.make("Ant-Disabled").spec.id == "mesa_ros/AntDisabled-v0"


def test_sample_task_follows_paper_distributions(env: AntDisabledEnv) -> None:
    rng = np.random.default_rng(0)
    train = {tuple(env.sample_task("train", rng)["power_scale"]) for _ in range(200)}
    assert train == {("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3")}
    assert env.sample_task("test", rng) == {"power_scale": {"hip_4": 0.0, "ankle_4": 0.0}}
    partial = [env.sample_task("test", rng, partial=True)["power_scale"] for _ in range(200)]
    scales = [p["hip_4"] for p in partial]
    assert all(p["hip_4"] == p["ankle_4"] for p in partial)  # the whole leg loses the same power
    assert 0.5 <= min(scales) and max(scales) <= 0.95 and np.std(scales) > 0.1
    with pytest.raises(ValueError, match="unknown split 'val'"):
        env.sample_task("val", rng)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.set_leg_power_scale(4, 0.0), r"unknown leg 4; expected an integer 0..3"),
        (lambda e: e.set_leg_power_scale(-1, 0.0), r"unknown leg -1"),
        (lambda e: e.set_leg_power_scale("front_left", 0.0), r"unknown leg 'front_left'"),
        (lambda e: e.set_leg_power_scale(True, 0.0), r"unknown leg True"),
        (lambda e: e.set_leg_power_scale(3, 1.5), r"power scale for 'leg 3' must be in \[0, 1\], got 1.5"),
        (lambda e: e.set_leg_power_scale(3, math.nan), r"power scale for 'leg 3' is NaN"),
        (lambda e: e.set_power_scale("hip_5", 0.0), r"unknown actuator/joint 'hip_5'"),
        (lambda e: e.set_power_scale(8, 0.0), r"unknown actuator index 8"),
        (lambda e: e.set_task({"power_scale": {"hip_4": 0.0, "ankle_4": -0.5}}), r"'ankle_4' must be in \[0, 1\]"),
        (lambda e: e.set_task({"leg": 3}), r"unknown Ant-Disabled task key\(s\) \['leg'\]"),
        (lambda e: e.step(np.zeros(6)), r"action has shape \(6,\), expected \(8,\)"),
        (lambda e: e.step(np.array([0, 0, 0, math.nan, 0, 0, 0, 0])), r"action contains NaN or inf at index \[3\]"),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(env: AntDisabledEnv, call, message: str) -> None:
    env.set_power_scale("ankle_2", 0.5)
    env.step(COMMAND)
    before = snapshot(env)
    with pytest.raises(ValueError, match=message):
        call(env)
    assert_unchanged(before, snapshot(env))
