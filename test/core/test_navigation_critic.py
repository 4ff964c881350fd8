"""A safety critic trained on real Navigation-2 transitions ranks steps into the wall above safe steps.

Data as the reference's Navigation datasets: a uniform random policy, short episodes (10 steps) from
random start states around the obstacle, episodes not ended on violation. The critic is the RRL
method's (``methods.build``), trained on one dataset and scored on another (other seed).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from mesa_ros import envs
from mesa_ros.core.config import load_config
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, TransitionRecorder
from mesa_ros.core.restore import env_spaces, new_agent
from mesa_ros.core.rollout import random_policy, rollout

from safety_stages import build

torch.set_num_threads(1)
ENV = "Navigation-2"
TASK = {"B": [1.2, 0.8]}
WALL = (-30.0, -20.0, -7.5, 7.5)  # Navigation-2's obstacle (xmin, xmax, ymin, ymax)


class StartAroundTheWall(gym.Wrapper):
    """Episodes start uniformly in a box around the wall (outside it), drawn from the env's own RNG."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        nav = self.env.unwrapped
        while nav.in_obstacle(pos := nav.np_random.uniform([-34.0, -11.5], [-16.0, 11.5])):
            pass
        nav.set_state(pos)
        return pos.copy(), {}


def random_data(n: int, seed: int) -> TransitionDataset:
    env = StartAroundTheWall(envs.make(ENV, task=TASK, terminate_on_violation=False, max_episode_steps=10))
    recorder = TransitionRecorder(2, 2, capacity=n)
    rollout(env, random_policy(env.action_space, np.random.default_rng(seed)), recorder, num_transitions=n, seed=seed)
    return recorder.to_dataset(DatasetMetadata(ENV, TASK, "test", "random", seed))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def distance_to_wall(s: np.ndarray) -> np.ndarray:
    x0, x1, y0, y1 = WALL
    dx = np.maximum(np.maximum(x0 - s[:, 0], s[:, 0] - x1), 0.0)
    dy = np.maximum(np.maximum(y0 - s[:, 1], s[:, 1] - y1), 0.0)
    return np.hypot(dx, dy)


def test_roc_auc_helper():
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5


def test_critic_ranks_transitions_into_the_obstacle_above_safe_ones():
    train, held_out = random_data(4000, seed=0), random_data(4000, seed=1)
    assert not train.terminated.any() and train.num_violations > 100  # violations did not end the episodes
    cfg = load_config(ENV, overrides={"sac": {"hidden": [64, 64]}, "critic": {"hidden": [64, 64]},
                                      "recovery": {"hidden": [64, 64]},
                                      "adapt": {"pretrain_steps": 2000, "pretrain_lr": 3e-3, "batch_size": 256}})
    space = env_spaces(ENV)
    layer = build("rrl", cfg, *space, new_agent(cfg, space).policy, test_data=train, seed=0)

    outside = distance_to_wall(held_out.s) > 0  # steps taken from outside the wall (not stuck inside it)
    with torch.no_grad():
        risk = layer.critic(torch.as_tensor(held_out.s, dtype=torch.float32),
                            torch.as_tensor(held_out.a_exec, dtype=torch.float32)).numpy()
    labels = held_out.c  # 1: this step ends inside the obstacle
    near = outside & (distance_to_wall(held_out.s) < 1.5)  # where the action decides
    assert labels[outside].sum() > 30 and labels[near].sum() > 30
    assert roc_auc(risk[outside], labels[outside]) > 0.9
    assert roc_auc(risk[near], labels[near]) > 0.85
