"""HalfCheetah-Disabled: faults act on MuJoCo's actuator forces, constraint, invisibility, bad input (shared checks:
test_every_env.py)."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import mesa_ros.envs  # noqa: F401  (registers the environments)
from mesa_ros.envs.gait import sine_gait
from mesa_ros.envs.half_cheetah import HalfCheetahDisabledEnv

from mujoco_helpers import assert_unchanged, joint_force, snapshot

GEARS = {"bthigh": 120, "bshin": 90, "bfoot": 60, "fthigh": 120, "fshin": 60, "ffoot": 30}
COMMAND = np.array([0.5, -0.4, 0.3, -0.6, 0.7, 0.8])


@pytest.fixture
def env() -> HalfCheetahDisabledEnv:
    e = HalfCheetahDisabledEnv()
    e.reset(seed=0)
    yield e
    e.close()


@pytest.mark.parametrize("joint", list(GEARS))
def test_power_scale_sets_actuator_force(env: HalfCheetahDisabledEnv, joint: str) -> None:
    i = env.actuator_index(joint)
    env.step(COMMAND)
    full = joint_force(env, joint)
    assert full == pytest.approx(GEARS[joint] * COMMAND[i])
    env.set_power_scale(joint, 0.0)
    env.step(COMMAND)
    assert joint_force(env, joint) == 0.0
    others = [j for j in GEARS if j != joint]
    assert all(joint_force(env, j) == pytest.approx(GEARS[j] * COMMAND[env.actuator_index(j)]) for j in others)
    env.set_power_scale(joint, 0.5)
    env.step(COMMAND)
    assert joint_force(env, joint) == pytest.approx(0.5 * full)
    env.clear_faults()
    env.step(COMMAND)
    assert joint_force(env, joint) == pytest.approx(full)


def test_command_is_clipped_before_the_power_scale(env: HalfCheetahDisabledEnv) -> None:
    env.set_power_scale("ffoot", 0.5)
    env.step(np.full(6, 3.0))
    assert joint_force(env, "ffoot") == pytest.approx(0.5 * GEARS["ffoot"] * 1.0)


def test_fault_by_index_and_through_task(env: HalfCheetahDisabledEnv) -> None:
    env.set_power_scale(5, 0.25)
    assert env.task == {"power_scale": {**{j: 1.0 for j in GEARS}, "ffoot": 0.25}}
    env.set_task({"power_scale": {"bshin": 0.0}})
    assert env.power_scale.tolist() == [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]


def test_fault_survives_reset_and_reset_options_replace_it(env: HalfCheetahDisabledEnv) -> None:
    env.set_power_scale("ffoot", 0.0)
    env.reset(seed=1)
    assert env.power_scale[5] == 0.0  # documented: a broken joint stays broken across reset
    env.reset(options={"task": {"power_scale": {"fthigh": 0.3}}})
    assert env.power_scale.tolist() == [1.0, 1.0, 1.0, 0.3, 1.0, 1.0]
    env.reset(options={"task": {"power_scale": {}}})  # empty fault set: healthy again
    assert env.power_scale.tolist() == [1.0] * 6


def test_fault_mid_episode_changes_dynamics_from_the_next_step() -> None:
    def run(fault_at: int | None) -> np.ndarray:
        e = HalfCheetahDisabledEnv()
        e.reset(seed=3)
        for t in range(40):
            if t == fault_at:
                e.set_power_scale("ffoot", 0.0)
            obs, *_ = e.step(sine_gait(t))
        return obs

    healthy, faulty_late = run(None), run(39)
    np.testing.assert_array_equal(run(None), healthy)
    assert not np.allclose(healthy, faulty_late)


def test_no_violation_in_normal_running() -> None:
    env = gym.make("mesa_ros/HalfCheetahDisabled-v0")
    for seed in range(2):
        env.reset(seed=seed)
        costs = [env.step(sine_gait(t))[4]["cost"] for t in range(300)]
        assert sum(costs) == 0.0
    x = env.unwrapped.data.qpos[0]
    assert x > 5.0  # it really ran forward (~1.3 m/s for 15 s)


def test_observation_never_reveals_the_fault(env: HalfCheetahDisabledEnv) -> None:
    for _ in range(5):
        env.step(sine_gait(0))
    qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
    observations = []
    for fault in ({}, {"ffoot": 0.0}, {"bshin": 0.5, "fthigh": 0.0}):
        env.set_task({"power_scale": fault})
        env.set_state(qpos, qvel)
        observations.append((env._get_obs(), env.step(COMMAND)[0]))
    before = [o for o, _ in observations]
    after = [o for _, o in observations]
    for o in before[1:]:
        np.testing.assert_array_equal(o, before[0])
    assert not np.allclose(after[0], after[1]) and not np.allclose(after[0], after[2])
    assert env.observation_space.shape == (17,)


def test_registered_horizon_and_spaces() -> None:
    env = gym.make("mesa_ros/HalfCheetahDisabled-v0")
    assert env.spec.max_episode_steps == 1000
    assert env.action_space.shape == (6,)
    assert env.unwrapped.dt == pytest.approx(0.05)


def test_sample_task_follows_paper_distributions(env: HalfCheetahDisabledEnv) -> None:
    rng = np.random.default_rng(0)
    train = {next(iter(env.sample_task("train", rng)["power_scale"])) for _ in range(200)}
    assert train == {"bshin", "bfoot", "fthigh", "fshin"}
    assert env.sample_task("test", rng) == {"power_scale": {"ffoot": 0.0}}
    partial = [env.sample_task("test", rng, partial=True)["power_scale"]["ffoot"] for _ in range(200)]
    assert 0.5 <= min(partial) and max(partial) <= 0.95 and np.std(partial) > 0.1
    with pytest.raises(ValueError, match="unknown split 'val'"):
        env.sample_task("val", rng)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.set_power_scale("fknee", 0.0), r"unknown actuator/joint 'fknee'"),
        (lambda e: e.set_power_scale(6, 0.0), r"unknown actuator index 6"),
        (lambda e: e.set_power_scale(-1, 0.0), r"unknown actuator index -1"),
        (lambda e: e.set_power_scale("ffoot", 1.5), r"power scale for 'ffoot' must be in \[0, 1\], got 1.5"),
        (lambda e: e.set_power_scale("ffoot", -0.1), r"must be in \[0, 1\], got -0.1"),
        (lambda e: e.set_power_scale("ffoot", math.nan), r"power scale for 'ffoot' is NaN"),
        (lambda e: e.set_power_scale("ffoot", "half"), r"must be a number in \[0, 1\], got 'half'"),
        (lambda e: e.set_task({"power_scale": {"ffoot": 0.0, "tail": 0.0}}), r"unknown actuator/joint 'tail'"),
        (lambda e: e.set_task({"gear": {}}), r"unknown HalfCheetah-Disabled task key\(s\) \['gear'\]"),
        (lambda e: e.set_task([0.0] * 6), r"task must be a mapping"),
        (lambda e: e.reset(options={"fault": {}}), r"unknown reset option\(s\) \['fault'\]"),
        (lambda e: e.step(np.zeros(5)), r"action has shape \(5,\), expected \(6,\)"),
        (lambda e: e.step(np.array([0, 0, math.nan, 0, 0, 0])), r"action contains NaN or inf at index \[2\]"),
        (lambda e: e.step(["a"] * 6), r"action is not numeric"),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(env: HalfCheetahDisabledEnv, call, message: str) -> None:
    env.set_power_scale("bfoot", 0.5)
    env.step(COMMAND)
    before = snapshot(env)
    with pytest.raises(ValueError, match=message):
        call(env)
    assert_unchanged(before, snapshot(env))


def test_a_partly_invalid_task_applies_nothing(env: HalfCheetahDisabledEnv) -> None:
    env.set_power_scale("bfoot", 0.5)
    with pytest.raises(ValueError, match="fshin"):
        env.set_task({"power_scale": {"ffoot": 0.0, "fshin": 2.0}})
    assert env.power_scale.tolist() == [1.0, 1.0, 0.5, 1.0, 1.0, 1.0]
