"""Offline dataset collection (paper sec. 5.1).

Test-environment data and Navigation data come from a random policy; locomotion training data is
the whole replay buffer of a SAC run stopped early ("sac_early_stop"), which holds both safe and
unsafe behaviour. Episodes are not ended on violation in offline data, only by the horizon.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from mesa_ros import envs
from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.config import SACConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, TransitionRecorder
from mesa_ros.core.sac import SAC
from mesa_ros.envs.base import check_split

Act = Callable[[np.ndarray], np.ndarray]


def random_policy(action_space: gym.spaces.Box, rng: np.random.Generator) -> Act:
    """Uniform actions in the action space's bounds, drawn from ``rng``."""
    low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
    return lambda obs: rng.uniform(low, high)


def rollout(
    env: gym.Env,
    act: Act,
    recorder: TransitionRecorder,
    *,
    num_transitions: int | None = None,
    num_episodes: int | None = None,
    seed: int | None = None,
    on_step: Callable[[], None] | None = None,
    progress: bool = False,
    desc: str = "collect",
) -> TransitionRecorder:
    """Run ``act`` in ``env`` until the budget is spent, ``add``-ing every transition to ``recorder``.

    Exactly one budget is given: ``num_transitions`` steps (the last episode is then cut, see
    ``TransitionRecorder.finish_episode``) or ``num_episodes`` episodes. ``a_task == a_exec`` (no
    shield). The first reset uses ``seed``; ``on_step`` runs after each recorded step (e.g. a
    learner's update). ``c`` is ``info["c"]``.
    """
    if (num_transitions is None) == (num_episodes is None):
        raise ValueError("give exactly one of num_transitions and num_episodes")
    budget = num_transitions if num_transitions is not None else num_episodes
    if budget < 1:
        raise ValueError(f"the collection budget must be >= 1, got {budget}")
    count_steps = num_transitions is not None
    steps = episodes = 0
    obs, _ = env.reset(seed=seed)
    with tqdm(total=budget, desc=desc, unit="step" if count_steps else "episode", disable=not progress) as bar:
        while (steps if count_steps else episodes) < budget:
            action = act(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            recorder.add(obs, action, action, float(reward), float(info["c"]), next_obs, terminated, truncated)
            steps += 1
            if on_step is not None:
                on_step()
            done = terminated or truncated
            episodes += done
            bar.update(1 if count_steps else int(done))
            obs = env.reset()[0] if done else next_obs
    recorder.finish_episode()
    return recorder


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
    explore = random_policy(env.action_space, np.random.default_rng(seed))

    def act(obs: np.ndarray) -> np.ndarray:
        return explore(obs) if len(buffer) < cfg.learning_starts else agent.act(obs)

    def learn() -> None:
        if len(buffer) >= cfg.learning_starts:
            for _ in range(cfg.updates_per_step):
                agent.update(buffer.sample(cfg.batch_size))

    budget = {"num_transitions": num_transitions, "num_episodes": num_episodes}
    rollout(env, act, buffer, **budget, seed=seed, on_step=learn, progress=progress, desc="SAC")
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
) -> TransitionDataset:
    """Collect one task's offline dataset with episodes that continue through violations.

    ``env_name``: paper name or gymnasium id (``mesa_ros.envs.make``); ``task``: the env's task dict,
    or None to draw one from ``split`` with ``seed``; ``policy``: "random", a trained ``SAC`` agent
    (stochastic actions), or "sac_early_stop" (train SAC for the budget and return its whole replay
    buffer: the buffer is the dataset). The budget is ``num_transitions`` or ``num_episodes``;
    ``max_episode_steps`` overrides the horizon. The same ``seed`` (env reset, action sampling,
    torch) gives the same dataset.
    """
    check_split(split)
    if not (isinstance(policy, SAC) or policy in ("random", "sac_early_stop")):
        raise ValueError(f"policy must be 'random', 'sac_early_stop' or a SAC agent, got {policy!r}")
    make_kwargs: dict[str, Any] = {"terminate_on_violation": False}
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
            act = random_policy(env.action_space, rng) if policy == "random" else policy.act
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
