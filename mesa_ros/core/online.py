"""Phase 3 (paper sec. 4.3): online safe RL in the test environment, one loop for every method.

Each step, following Recovery RL (the paper's phase 3)::

    a_task ~ pi_task(s)                      (uniform random for the first sac.learning_starts steps)
    a_exec = a_task   if Q_risk(s, a_task) <= eps_risk      (no safety layer: always a_task)
             pi_rec(s) otherwise
    s', r, c = env.step(a_exec)              (the episode ends on a violation or at the horizon)
    task buffer  <- (s, a_task, r, s')       relabelling: SAC learns from what it proposed
    risk buffer  <- (s, a_exec, c, s')       the critic learns what was executed
    SAC update on the task buffer; critic update on the risk buffer with a' ~ pi_task(s'),
    then a pi_rec update on the same observations

What the critic trains on: the risk buffer starts with the offline test-environment dataset (when
given) and grows with every online transition, as the reference's Recovery RL does (its
``recovery_memory`` holds the offline constraint data and the online transitions). Keeping the
offline data keeps the violations it contains in every later critic update, which the online data
(few violations, thanks to the shield) would otherwise lack. Learning (SAC, critic, pi_rec) starts
once ``sac.learning_starts`` transitions were taken; the critic and pi_rec optimisers
restart at ``critic.lr`` / ``recovery.lr`` (phase 2 leaves them at its own rate). No reward penalty
for violations is added (the episode's end is the penalty).

Every ``online.eval_every`` training episodes (0: never) one evaluation episode runs with the
deterministic task policy, the noise-free shield and no learning; ``evaluate`` runs only such episodes.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from mesa_ros import envs
from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.learner import Learner
from mesa_ros.core.rollout import Act, EpisodeStats, Guard, play_episode, random_policy
from mesa_ros.core.sac import SAC
from mesa_ros.core.safety_layer import SafetyLayer

#: Columns of the per-episode log; ``total_steps`` and ``cumulative_violations`` accumulate per ``mode``
#: ("train": learning episodes, the paper's cumulative-violations curve; "eval": evaluation episodes).
EPISODE_FIELDS = ("mode", "episode", "steps", "total_steps", "return", "violation", "cumulative_violations",
                  "override_rate", "action_scale", "wall_time")


class EpisodeLog:
    """Per-episode rows (``EPISODE_FIELDS``), each also passed to ``on_episode`` (e.g. a CSV writer)."""

    def __init__(self, on_episode: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.on_episode = on_episode
        self.totals: dict[str, list[int]] = {}  # mode -> [steps, violations]
        self.start = time.perf_counter()

    def add(self, mode: str, episode: int, stats: EpisodeStats) -> dict[str, Any]:
        totals = self.totals.setdefault(mode, [0, 0])
        totals[0] += stats.steps
        totals[1] += stats.violation
        row = {"mode": mode, "episode": episode, "steps": stats.steps, "total_steps": totals[0],
               "return": stats.episode_return, "violation": int(stats.violation), "cumulative_violations": totals[1],
               "override_rate": stats.overrides / stats.steps, "action_scale": stats.scale_sum / stats.steps,
               "wall_time": time.perf_counter() - self.start}
        self.rows.append(row)
        if self.on_episode is not None:
            self.on_episode(row)
        return row


@dataclass
class OnlineResult:
    """What phase 3 returns: the log rows and the trained modules with their buffers."""

    rows: list[dict[str, Any]]
    agent: SAC
    safety: SafetyLayer | None
    task_buffer: ReplayBuffer
    risk_buffer: ReplayBuffer | None


def make_env(cfg: MesaConfig) -> gym.Env:
    """The test environment of phase 3: episodes end on a violation or at ``online.max_episode_steps``."""
    return envs.make(cfg.env, terminate_on_violation=True, max_episode_steps=cfg.online.max_episode_steps)


def run(cfg: MesaConfig, task: Mapping[str, Any] | None, agent: SAC, safety: SafetyLayer | None = None,
        offline_data: TransitionDataset | None = None, *, seed: int = 0, episodes: int | None = None,
        progress: bool = False, on_episode: Callable[[dict[str, Any]], None] | None = None) -> OnlineResult:
    """Phase 3: ``episodes`` (default ``online.episodes``) learning episodes in ``cfg.env`` with ``task``
    (fewer when ``online.max_total_steps`` env steps are reached first).

    ``agent`` learns the task (in place); ``safety`` (None: Unconstrained) shields it and keeps
    learning; ``offline_data`` (the test dataset) seeds the risk buffer. The same ``seed`` and inputs
    give the same rows and weights (with single-threaded torch). Each row is also passed to ``on_episode``.
    """
    episodes = cfg.online.episodes if episodes is None else episodes
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = make_env(cfg)
    try:
        env.reset(seed=seed, options=None if task is None else {"task": dict(task)})
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        if offline_data is not None:
            check_dataset(offline_data, cfg.env, obs_dim, act_dim)
        capacity = min(cfg.sac.buffer_size, max(episodes * cfg.online.max_episode_steps, cfg.sac.learning_starts))
        task_buffer = ReplayBuffer(obs_dim, act_dim, capacity, action="task", seed=seed)
        risk_buffer = None
        if safety is not None:
            safety.critic.reset_optimizer(cfg.critic.lr)
            safety.recovery.reset_optimizer(cfg.recovery.lr)
            if offline_data is None:
                risk_buffer = ReplayBuffer(obs_dim, act_dim, capacity, action="exec", seed=seed + 1)
            else:
                risk_buffer = ReplayBuffer.from_dataset(offline_data, capacity + len(offline_data), action="exec",
                                                        seed=seed + 1)
        guard = _guard(cfg, safety, noise=True)
        # the evaluation episodes' own shield (noise-free), its governor's c carried from one to the next as the
        # training shield's is (one robot, one fault)
        eval_guard = _guard(cfg, safety, noise=False)
        learner = Learner(agent, task_buffer, safety, risk_buffer, learning_starts=cfg.sac.learning_starts,
                          sac_updates=cfg.sac.updates_per_step, safety_updates=cfg.online.critic_updates_per_step,
                          sac_batch=cfg.sac.batch_size, critic_batch=cfg.critic.batch_size,
                          explore=random_policy(env.action_space, rng))

        log = EpisodeLog(on_episode)
        for episode in tqdm(range(1, episodes + 1), desc="phase 3", unit="episode", disable=not progress):
            row = log.add("train", episode, play_episode(env, learner.act, guard, learner.add))
            if cfg.online.eval_every and episode % cfg.online.eval_every == 0:
                log.add("eval", episode, play_episode(env, lambda obs: agent.act(obs, deterministic=True), eval_guard))
            if cfg.online.max_total_steps and row["total_steps"] >= cfg.online.max_total_steps:
                break
        return OnlineResult(log.rows, agent, safety, task_buffer, risk_buffer)
    finally:
        env.close()


def evaluate(cfg: MesaConfig, task: Mapping[str, Any] | None, agent: SAC, safety: SafetyLayer | None = None, *,
             episodes: int = 10, seed: int = 0, progress: bool = False) -> list[dict[str, Any]]:
    """``episodes`` evaluation episodes (deterministic pi_task, noise-free shield, no learning)."""
    torch.manual_seed(seed)
    return evaluate_policy(cfg, task, lambda obs: agent.act(obs, deterministic=True), _guard(cfg, safety, noise=False),
                           episodes=episodes, seed=seed, progress=progress)


def _guard(cfg: MesaConfig, safety: SafetyLayer | None, noise: bool) -> Guard | None:
    """The shield of an episode loop as configured (eps_risk, the critic's warning governor), or None."""
    return None if safety is None else safety.shield(cfg.shield.eps_risk, noise=noise, governor=cfg.critic_governor)


def evaluate_policy(cfg: MesaConfig, task: Mapping[str, Any] | None, act: Act, guard: Guard | None, *,
                    episodes: int = 10, seed: int = 0, progress: bool = False) -> list[dict[str, Any]]:
    """``episodes`` episodes of ``act`` behind ``guard`` (None: unshielded) from one ``env.reset(seed=seed)``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(cfg)
    try:
        env.reset(seed=seed, options=None if task is None else {"task": dict(task)})
        log = EpisodeLog()
        for episode in tqdm(range(1, episodes + 1), desc="evaluate", unit="episode", disable=not progress):
            log.add("eval", episode, play_episode(env, act, guard))
        return log.rows
    finally:
        env.close()


def check_dataset(data: TransitionDataset, env: str, obs_dim: int, act_dim: int) -> None:
    """``ValueError`` unless ``data`` comes from ``env`` with these observation and action sizes."""
    if data.metadata.env != env or (data.obs_dim, data.act_dim) != (obs_dim, act_dim):
        raise ValueError(f"offline dataset is from {data.metadata.env} (obs {data.obs_dim}, act {data.act_dim}), "
                         f"not from {env} (obs {obs_dim}, act {act_dim})")
