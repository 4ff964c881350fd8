"""What every registered environment guarantees: Gymnasium's API checks, seeding, the constraint signal."""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mesa_ros.envs

from mujoco_helpers import flipped

NAMES = list(mesa_ros.envs.ENVS)


def rollout(env: gym.Env, seed: int, steps: int = 30) -> tuple[np.ndarray, list[dict]]:
    """Observations and infos of ``steps`` steps from ``reset(seed)`` under fixed random actions."""
    obs, _ = env.reset(seed=seed)
    low, high = env.action_space.low, env.action_space.high
    actions = np.random.default_rng(0).uniform(low, high, (steps, *env.action_space.shape))
    observations, infos = [obs], []
    for a in actions:
        obs, _, terminated, truncated, info = env.step(a)
        observations.append(obs)
        infos.append(info)
        if terminated or truncated:
            break
    return np.array(observations), infos


@pytest.mark.parametrize("name", NAMES)
def test_passes_gymnasiums_env_checker(name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(mesa_ros.envs.make(name).unwrapped, skip_render_check=True)
    # the only remarks allowed: unbounded observations, as in every MuJoCo environment of Gymnasium
    remarks = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert remarks == []


@pytest.mark.parametrize("name", NAMES)
def test_seeding_is_reproducible(name: str) -> None:
    env = mesa_ros.envs.make(name, terminate_on_violation=False)
    np.testing.assert_array_equal(rollout(env, 7)[0], rollout(env, 7)[0])
    assert not np.allclose(rollout(env, 7)[0], rollout(env, 8)[0])


@pytest.mark.parametrize("name", NAMES)
def test_every_step_reports_the_constraint_flag_and_its_cost(name: str) -> None:
    env = mesa_ros.envs.make(name)
    observations, infos = rollout(env, 0)
    assert infos and all(type(i["c"]) is bool and i["cost"] == float(i["c"]) for i in infos)
    assert all(env.observation_space.contains(o) for o in observations)


def _cheetah_on_its_head(e) -> None:
    qpos = e.init_qpos.copy()
    qpos[2] = 1.2  # pitched over: it falls onto its head within a few dozen steps
    e.set_state(qpos, np.zeros(e.model.nv))


#: A state in (or falling into) the unsafe set, and the steps after which a violation must have been flagged.
UNSAFE: dict[str, tuple[Callable, int]] = {
    "Ant-Disabled": (flipped, 3),
    "Cartpole-Length": (lambda e: e.set_state([0.0, 2.0], [0.0, 0.0]), 3),
    "HalfCheetah-Disabled": (_cheetah_on_its_head, 40),
    "Navigation-1": (lambda e: e.set_state((-30.0, 7.0)), 3),  # inside the corridor's upper wall
    "Navigation-2": (lambda e: e.set_state((-25.0, 0.0)), 3),  # inside the wall
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_the_unsafe_state_costs_1_and_ends_the_episode(name: str) -> None:
    e = mesa_ros.envs.make(name).unwrapped  # Ant: torso on the floor; HalfCheetah: head contact; ...
    e.reset(seed=0)
    put_unsafe, steps = UNSAFE[name]
    put_unsafe(e)
    for _ in range(steps):
        _, _, terminated, truncated, info = e.step(np.zeros(e.action_space.shape))
        if info["c"]:
            break
    assert info["c"] is True and info["cost"] == 1.0
    assert terminated and not truncated
    assert e.in_obstacle(e.position) if "Navigation" in name else e.constraint_violated()


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_a_violation_does_not_terminate_when_configured(name: str) -> None:
    e = mesa_ros.envs.make(name, terminate_on_violation=False).unwrapped
    e.reset(seed=0)
    put_unsafe, steps = UNSAFE[name]
    put_unsafe(e)
    results = [e.step(np.zeros(e.action_space.shape)) for _ in range(steps)]
    assert any(info["c"] for *_, info in results)
    assert not any(terminated for _, _, terminated, _, _ in results)


@pytest.mark.parametrize("name", [n for n in NAMES if "Navigation" not in n])
def test_mujoco_warns_on_stderr_and_writes_no_log_file(name: str, tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.chdir(tmp_path)
    e = mesa_ros.envs.make(name).unwrapped
    e.reset(seed=0)
    assert "WARNING" not in capfd.readouterr().err  # our MJCF compiles without deprecation warnings
    e.data.qvel[0] = math.nan  # provoke a MuJoCo simulation warning (MuJoCo resets the state)
    mujoco.mj_step(e.model, e.data)
    assert "Nan, Inf or huge value in QVEL" in capfd.readouterr().err
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
