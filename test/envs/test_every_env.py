"""What every registered environment guarantees: Gymnasium's API checks, seeding, the constraint signal."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mesa_ros.envs

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
