"""Offline dataset collection (paper sec. 5.1).

Test-environment data and Navigation data come from a random policy; locomotion training data is
the whole replay buffer of a SAC run stopped early ("sac_early_stop"), which holds both safe and
unsafe behaviour. Episodes are not ended on violation in offline data, only by the horizon.

Navigation (``start="near_obstacles"``): random rollouts from the default start (-50, 0) almost never
reach an obstacle (48 violations in 100k transitions, where the paper reports ~680 / ~1200 per 10k).
The Recovery RL reference (``env/navigation{1,2}.py: get_offline_data``, reused by MESA) therefore
collects Navigation data as short rollouts of at most ``NEAR_OBSTACLE_ROLLOUT_STEPS`` = 10 steps, each
from a start drawn uniformly in a box near the obstacles (``NEAR_OBSTACLE_STARTS``), actions
clip(N(0, I), -1, 1) except on the axis that points at the wall from the Navigation-2 side boxes
(uniform in +-[0.5, 1] towards it); a rollout ends at its first violation (as in the reference: a
point inside an obstacle stays there, so more steps would only repeat that state).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from mesa_ros import envs
from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.config import SACConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, TransitionRecorder
from mesa_ros.core.learner import Learner
from mesa_ros.core.rollout import Act, random_policy, rollout
from mesa_ros.core.sac import SAC
from mesa_ros.envs.base import check_split

Interval = tuple[float, float]
STARTS = ("reset", "near_obstacles")  # values of collect(start=...)
NEAR_OBSTACLE_ROLLOUT_STEPS = 10  # reference: ``for j in range(10)``


@dataclass(frozen=True)
class StartBox:
    """Offline rollouts that start uniformly in ``x`` x ``y`` (outside the obstacles).

    ``weight``: the share of rollouts starting here (reference: its rollout counts per box);
    ``action``: per axis, None for clip(N(0, 1), -1, 1), else U(low, high) (pushing towards a wall).
    """

    weight: float
    x: Interval
    y: Interval
    action: tuple[Interval | None, Interval | None] = (None, None)


#: Start boxes of the reference's ``get_offline_data`` per environment (Recovery RL, env/navigation*.py).
NEAR_OBSTACLE_STARTS: dict[str, tuple[StartBox, ...]] = {
    # 50/50 just below / above the corridor (walls at y <= -5 and y >= 5)
    "Navigation-1": (StartBox(1, (-80, 50), (-5, -2)), StartBox(1, (-80, 50), (2, 5))),
    # n/30 rollouts in a wide box around the wall (x in [-30, -20], y in [-7.5, 7.5]) and n/40 from each side,
    # pushing towards the wall: weights 4 : 3 : 3 : 3 : 3
    "Navigation-2": (
        StartBox(4, (-40, 10), (-25, 25)),
        StartBox(3, (-35, -30), (-12, 12), ((0.5, 1.0), None)),  # left of the wall, pushing right
        StartBox(3, (-20, -15), (-12, 12), ((-1.0, -0.5), None)),  # right of it, pushing left
        StartBox(3, (-30, -20), (10, 15), (None, (-1.0, -0.5))),  # above, pushing down
        StartBox(3, (-30, -20), (-15, -10), (None, (0.5, 1.0))),  # below, pushing up
    ),
}


class NearObstacleStarts(gym.Wrapper):
    """Each ``reset`` places the point at a start drawn from ``boxes`` (by weight, rejecting starts inside
    an obstacle); ``act`` draws that box's actions. All draws come from ``rng``."""

    def __init__(self, env: gym.Env, boxes: Sequence[StartBox], rng: np.random.Generator) -> None:
        super().__init__(env)
        self.boxes, self.rng = tuple(boxes), rng
        weights = np.array([b.weight for b in self.boxes], dtype=np.float64)
        self.p = weights / weights.sum()
        self.box = self.boxes[0]

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(**kwargs)
        nav = self.env.unwrapped
        self.box = self.boxes[self.rng.choice(len(self.boxes), p=self.p)]
        start = self.rng.uniform([self.box.x[0], self.box.y[0]], [self.box.x[1], self.box.y[1]])
        while nav.in_obstacle(start):
            start = self.rng.uniform([self.box.x[0], self.box.y[0]], [self.box.x[1], self.box.y[1]])
        nav.set_state(start)
        return nav.position, info

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.array([np.clip(self.rng.standard_normal(), -1.0, 1.0) if axis is None else self.rng.uniform(*axis)
                         for axis in self.box.action])


@dataclass(frozen=True)
class Perturbation:
    """Perturbations of a behaviour policy, so that its data shows unsafe as well as safe behaviour (the
    paper's "examples of safe and unsafe behaviour", sec. 5.1) near the states the policy itself visits.

    Each step: inside a random stretch, a uniform random action; else, with probability
    ``stretch_prob``, a stretch of ``stretch_steps`` uniform random actions begins; else the policy's
    action plus N(0, ``action_noise``^2) per component, in units of the half-range, clipped to the box.
    """

    action_noise: float = 0.0
    stretch_prob: float = 0.0
    stretch_steps: int = 0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.action_noise) and self.action_noise >= 0):
            raise ValueError(f"action noise must be a finite number >= 0, got {self.action_noise}")
        if not 0.0 <= self.stretch_prob <= 1.0:
            raise ValueError(f"random-stretch probability must be in [0, 1], got {self.stretch_prob}")
        if self.stretch_steps < 0 or (self.stretch_prob > 0) != (self.stretch_steps > 0):
            raise ValueError(f"a random stretch needs a probability > 0 and a length >= 1 together, got "
                             f"probability {self.stretch_prob} and length {self.stretch_steps}")

    def wrap(self, act: Act, action_space: gym.spaces.Box, rng: np.random.Generator) -> Act:
        """``act`` with these perturbations, drawn from ``rng``."""
        low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
        half = (high - low) / 2
        left = 0  # random actions left in the current stretch

        def perturbed(obs: np.ndarray) -> np.ndarray:
            nonlocal left
            if left == 0 and self.stretch_prob and rng.random() < self.stretch_prob:
                left = self.stretch_steps
            if left:
                left -= 1
                return rng.uniform(low, high)
            action = np.asarray(act(obs), dtype=np.float64)
            if self.action_noise:
                action = action + rng.normal(0.0, self.action_noise, action.shape) * half
            return np.clip(action, low, high)

        return perturbed


def train_sac(
    env: gym.Env,
    *,
    num_transitions: int | None = None,
    num_episodes: int | None = None,
    cfg: SACConfig = SACConfig(),
    seed: int | None = None,
    progress: bool = False,
) -> tuple[SAC, ReplayBuffer]:
    """Train SAC in ``env`` for the budget: ``cfg.learning_starts`` uniform random steps, then the
    SAC policy with ``cfg.updates_per_step`` updates per step. Returns the agent and its replay
    buffer (capacity ``cfg.buffer_size``, or the transition budget when smaller)."""
    if cfg.buffer_size < cfg.learning_starts:
        raise ValueError(f"SAC buffer_size {cfg.buffer_size} must be >= learning_starts {cfg.learning_starts}")
    agent = SAC(env.observation_space, env.action_space, cfg)
    capacity = min(cfg.buffer_size, num_transitions) if num_transitions is not None else cfg.buffer_size
    buffer = ReplayBuffer(env.observation_space.shape[0], env.action_space.shape[0], capacity, action="task", seed=seed)
    learner = Learner(agent, buffer, learning_starts=cfg.learning_starts, sac_updates=cfg.updates_per_step,
                      sac_batch=cfg.batch_size, explore=random_policy(env.action_space, np.random.default_rng(seed)))
    budget = {"num_transitions": num_transitions, "num_episodes": num_episodes}
    rollout(env, learner.act, buffer, **budget, seed=seed, on_step=learner.learn, progress=progress, desc="SAC")
    return agent, buffer


def collect(
    env_name: str,
    task: Mapping[str, Any] | None,
    split: str,
    policy: str | SAC = "random",
    *,
    num_transitions: int | None = None,
    num_episodes: int | None = None,
    seed: int = 0,
    progress: bool = True,
    max_episode_steps: int | None = None,
    sac_config: SACConfig = SACConfig(),
    start: str = "reset",
    deterministic: bool = False,
    perturbation: Perturbation | None = None,
) -> TransitionDataset:
    """Collect one task's offline dataset with episodes that continue through violations.

    ``env_name``: paper name or gymnasium id (``mesa_ros.envs.make``); ``task``: the env's task dict,
    or None to draw one from ``split`` with ``seed``; ``policy``: "random", a trained ``SAC`` agent
    (stochastic actions), or "sac_early_stop" (train SAC for the budget and return its whole replay
    buffer: the buffer is the dataset). The budget is ``num_transitions`` or ``num_episodes``;
    ``max_episode_steps`` overrides the horizon. The same ``seed`` (env reset, action sampling,
    torch) gives the same dataset.

    ``start``: "reset" (the environment's own start distribution) or "near_obstacles" (Navigation
    only, with the random policy: the reference's short rollouts near the obstacles, see the module
    docstring; the horizon defaults to ``NEAR_OBSTACLE_ROLLOUT_STEPS`` and a violation ends a rollout).

    A given SAC agent acts ``deterministic``-ally (its mean: how the graph's task_policy runs it) or
    stochastically; ``perturbation`` perturbs it (or the random policy): recording a deployed policy's
    behaviour with the unsafe excursions that a critic for it must see.
    """
    check_split(split)
    if not (isinstance(policy, SAC) or policy in ("random", "sac_early_stop")):
        raise ValueError(f"policy must be 'random', 'sac_early_stop' or a SAC agent, got {policy!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {list(STARTS)}, got {start!r}")
    near = start == "near_obstacles"
    if perturbation is not None and (policy == "sac_early_stop" or near):
        raise ValueError("a perturbation applies to the random policy or a given SAC agent, not to "
                         f"policy={policy!r} with start={start!r}")
    if near:
        gym_id = envs.env_id(env_name)
        boxes = next((b for name, b in NEAR_OBSTACLE_STARTS.items() if envs.env_id(name) == gym_id), None)
        if not boxes:
            raise ValueError(f"start='near_obstacles' is defined for {sorted(NEAR_OBSTACLE_STARTS)}, not {env_name!r}")
        if policy != "random":
            raise ValueError(f"start='near_obstacles' collects with its own random actions; policy must be 'random', "
                             f"got {policy!r}")
        max_episode_steps = max_episode_steps or NEAR_OBSTACLE_ROLLOUT_STEPS
    make_kwargs: dict[str, Any] = {"terminate_on_violation": near}
    if max_episode_steps is not None:
        make_kwargs["max_episode_steps"] = max_episode_steps
    env = envs.make(env_name, **make_kwargs)
    try:
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        env.unwrapped.set_task(env.unwrapped.sample_task(split, rng) if task is None else task)
        budget = {"num_transitions": num_transitions, "num_episodes": num_episodes}
        extra: dict[str, Any] = {"env_id": env.spec.id, "max_episode_steps": env.spec.max_episode_steps}
        if policy == "sac_early_stop":
            _, recorder = train_sac(env, **budget, cfg=sac_config, seed=seed, progress=progress)
            extra["sac"] = dataclasses.asdict(sac_config)
            name = "sac_early_stop"
        else:
            if near:
                env = NearObstacleStarts(env, boxes, rng)
                act = env.act
                extra["start"] = start
            else:
                act = random_policy(env.action_space, rng) if policy == "random" else (
                    lambda obs: policy.act(obs, deterministic=deterministic))
                if perturbation is not None:
                    act = perturbation.wrap(act, env.action_space, rng)
                    extra["perturbation"] = dataclasses.asdict(perturbation)
                if policy != "random":
                    extra["deterministic"] = deterministic
            name = "random" if policy == "random" else "sac"
            obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
            recorder = TransitionRecorder(obs_dim, act_dim, capacity=num_transitions or 1024)
            desc = f"collect {env.unwrapped.family}"
            rollout(env, act, recorder, **budget, seed=seed, progress=progress, desc=desc)
        metadata = DatasetMetadata(
            env=env.unwrapped.family, task=env.unwrapped.task, split=split, policy=name, seed=seed, extra=extra
        )
        return recorder.to_dataset(metadata)
    finally:
        env.close()
