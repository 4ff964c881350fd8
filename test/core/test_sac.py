"""SAC task policy: acting, the policy callable, one update's arithmetic, checkpoints, and that it learns."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mesa_ros.core.batch import Batch
from mesa_ros.core.collect import train_sac
from mesa_ros.core.config import SACConfig
from mesa_ros.core.rollout import random_policy
from mesa_ros.core.sac import SAC

torch.set_num_threads(1)


class PointGoalEnv(gym.Env):
    """1-D point x' = x + 0.2 a, start x ~ U(-1, 1), reward -|x'| (goal 0), horizon 25."""

    horizon = 25
    observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = self.np_random.uniform(-1.0, 1.0), 0
        return np.array([self.x]), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.2 * float(np.clip(action[0], -1, 1)), -2.0, 2.0))
        self.t += 1
        return np.array([self.x]), -abs(self.x), False, self.t >= self.horizon, {"c": abs(self.x) >= 2.0}


def mean_return(env: gym.Env, act, episodes: int = 20, seed: int = 123) -> float:
    total = 0.0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            total += r
            done = terminated or truncated
    return total / episodes


def small_agent(low=(-1.0,), high=(1.0,), obs_dim: int = 3) -> SAC:
    obs_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float64)
    act_space = gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32))
    return SAC(obs_space, act_space, SACConfig(hidden=(16, 16)))


def test_sac_learns_point_goal_beyond_random_policy():
    torch.manual_seed(0)
    env = PointGoalEnv()
    random_return = mean_return(env, random_policy(env.action_space, np.random.default_rng(0)))
    cfg = SACConfig(hidden=(64, 64), batch_size=64, learning_starts=500)
    agent, buffer = train_sac(env, num_transitions=1_500, cfg=cfg, seed=0)
    trained_return = mean_return(env, lambda obs: agent.act(obs, deterministic=True))
    assert len(buffer) == 1_500
    # A random walk from x0 ~ U(-1, 1) scores about -16 over 25 steps; heading to 0 and staying there about -1.3.
    assert random_return < -8.0, random_return
    assert trained_return > -3.0, (trained_return, random_return)


def test_act_respects_asymmetric_bounds_and_shapes():
    torch.manual_seed(0)
    agent = small_agent(low=(0.0, -2.0), high=(1.0, 6.0))
    obs = np.random.default_rng(0).normal(size=(500, 3)) * 10
    actions = agent.act(obs)
    assert actions.shape == (500, 2) and actions.dtype == np.float32
    assert (actions >= [0.0, -2.0]).all() and (actions <= [1.0, 6.0]).all()
    assert actions[:, 1].max() - actions[:, 1].min() > 1.0  # uses the scaled range, not [-1, 1]
    single = agent.act(obs[0], deterministic=True)
    assert single.shape == (2,)
    np.testing.assert_array_equal(single, agent.act(obs[0], deterministic=True))


def test_policy_callable_samples_without_grad():
    torch.manual_seed(0)
    agent = small_agent()
    obs = torch.randn(64, 3)
    a1, a2 = agent.policy(obs), agent.policy(obs)
    assert a1.shape == (64, 1) and not a1.requires_grad
    assert not torch.equal(a1, a2)  # stochastic: a' ~ pi_task(s')
    assert (a1.abs() <= 1.0).all()


def test_update_steps_critics_and_soft_updates_targets():
    torch.manual_seed(0)
    agent = small_agent()
    batch = Batch(
        obs=torch.randn(32, 3), action=torch.rand(32, 1) * 2 - 1, reward=torch.randn(32), cost=torch.zeros(32),
        next_obs=torch.randn(32, 3), terminated=(torch.rand(32) < 0.2).float(),
    )
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    metrics = agent.update(batch)
    after = agent.state_dict()
    assert set(metrics) == {"qf1_loss", "qf2_loss", "q1", "actor_loss", "entropy"}
    assert all(np.isfinite(v) for v in metrics.values())
    for name in ("actor.net.0.weight", "qf1.net.0.weight", "qf2.net.4.bias"):
        assert not torch.equal(before[name], after[name]), name
    tau = agent.cfg.tau
    for name in ("qf1.net.0.weight", "qf2.net.2.bias"):
        target = name.replace("qf1", "qf1_target").replace("qf2", "qf2_target")
        expected = before[target] + tau * (after[name] - before[target])
        torch.testing.assert_close(after[target], expected)


def test_state_dict_round_trip_and_shape_mismatch():
    torch.manual_seed(0)
    agent, other = small_agent(), small_agent()
    obs = np.ones(3)
    assert not np.array_equal(agent.act(obs, deterministic=True), other.act(obs, deterministic=True))
    other.load_state_dict(agent.state_dict())
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), other.act(obs, deterministic=True))
    with pytest.raises(RuntimeError, match="size mismatch"):
        small_agent(obs_dim=4).load_state_dict(agent.state_dict())


def test_unbounded_action_space_rejected():
    obs_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,))
    with pytest.raises(ValueError, match="finite action bounds"):
        SAC(obs_space, gym.spaces.Box(-np.inf, np.inf, shape=(1,)))
