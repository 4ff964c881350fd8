"""CARL and CARL-Offline as the experiment runner runs them (the paper's model-based comparisons, sec. 5).

Both plan with the risk-averse CEM of ``core/carl.py`` through a PETS ensemble with a catastrophe head; they
differ in where the model's first data come from:

- **CARL** (Zhang et al. 2020; ref ``jesbu1/carl``, ``MBExperiment.py``): interaction with the *training*
  environments: ``carl.init_rollouts`` random-action episodes, a fit of ``carl.fit_steps``, then
  ``carl.source_iterations`` episodes planned risk-neutrally (the ref plans with the catastrophe cost only in the
  target environment), each in the next training task and followed by a refit of ``carl.refit_steps`` on all data.
- **CARL-Offline** (MESA paper): the same model fitted (``carl.fit_steps``) on the offline training datasets the
  other methods read; no interaction in the training environments.

In the test environment (phase 3, the same protocol as every method: ``online.episodes`` episodes that end on a
violation or at the horizon, ``online.max_total_steps``): the model is refitted on the test dataset added to its
data (the same small dataset MESA adapts on; the ref's CARL adapts from its own target rollouts only), then each
episode is planned risk-averse and followed by a refit on all data so far (CARL's adaptation, ref
``run_training_iters(adaptation=True)``).

The planner needs the task reward as a function of (s, a, s') (``REWARDS``; PETS' known cost): the environments'
own rewards, read from the observation. Cartpole's depends on the pole length, which is not observed: the
planner uses the training lengths' mean (0.6 m). The catastrophe is learned, as in the ref, so every environment
works, locomotion included.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from mesa_ros import envs
from mesa_ros.core import online
from mesa_ros.core.carl import (
    EnsembleConfig,
    PlannerConfig,
    ProbabilisticEnsemble,
    RewardFn,
    RiskAverseCEM,
    fit_ensemble,
)
from mesa_ros.core.config import CarlConfig, MesaConfig, stored_config
from mesa_ros.core.dataset import SCHEMA, DatasetMetadata, TransitionDataset, TransitionRecorder, concatenate
from mesa_ros.core.files import atomic
from mesa_ros.core.rollout import play_episode, random_policy
from mesa_ros.envs.cartpole import TRAIN_POLE_LENGTHS
from mesa_ros.envs.half_cheetah import CTRL_COST_WEIGHT as CHEETAH_CTRL
from mesa_ros.envs.navigation import GOAL

NOMINAL_POLE_LENGTH = sum(TRAIN_POLE_LENGTHS) / 2
ANT_CTRL, ANT_HEALTHY = 0.5, 1.0  # envs/ant.py: CTRL_COST_WEIGHT, HEALTHY_REWARD


def _navigation(s: Tensor, a: Tensor, s_next: Tensor) -> Tensor:
    return -torch.linalg.norm(s - torch.as_tensor(GOAL, dtype=s.dtype), dim=1)  # of the state acted in (env)


def _cartpole(s: Tensor, a: Tensor, s_next: Tensor) -> Tensor:
    x, sin, cos = s_next[:, 0], s_next[:, 1], s_next[:, 2]  # exp(-|tip - (0, L)|^2 / L^2), L nominal
    return torch.exp(-((x / NOMINAL_POLE_LENGTH + sin) ** 2 + (cos - 1) ** 2))


def _half_cheetah(s: Tensor, a: Tensor, s_next: Tensor) -> Tensor:
    return s_next[:, 8] - CHEETAH_CTRL * a.square().sum(1)  # obs[8] = rootx velocity after the step


def _ant(s: Tensor, a: Tensor, s_next: Tensor) -> Tensor:
    return s_next[:, 13] + ANT_HEALTHY - ANT_CTRL * a.square().sum(1)  # obs[13] = torso x velocity


REWARDS: dict[str, RewardFn] = {"Navigation-1": _navigation, "Navigation-2": _navigation,
                                "Cartpole-Length": _cartpole, "HalfCheetah-Disabled": _half_cheetah,
                                "Ant-Disabled": _ant}


def planner_config(c: CarlConfig) -> PlannerConfig:
    return PlannerConfig(c.horizon, c.population, c.elites, c.iterations, c.particles, c.smoothing,
                         c.catastrophe_cost, c.catastrophe_threshold)


def ensemble_config(c: CarlConfig, steps: int) -> EnsembleConfig:
    return EnsembleConfig(c.members, c.hidden, c.lr, c.batch_size, steps, c.weight_decay)


class CarlAgent:
    """The ensemble, its data (every transition it has seen) and the planner through it."""

    def __init__(self, cfg: MesaConfig, seed: int = 0) -> None:
        if cfg.env not in REWARDS:
            raise ValueError(f"CARL has no reward model for {cfg.env!r}; expected one of {sorted(REWARDS)}")
        env = envs.make(cfg.env)
        space, obs_dim = env.action_space, env.observation_space.shape[0]
        env.close()
        self.cfg, self.seed = cfg, seed
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.model = ProbabilisticEnsemble(obs_dim, space.shape[0], cfg.carl.members, cfg.carl.hidden)
        self.datasets: list[TransitionDataset] = []  # data given whole (offline datasets, the test dataset)
        self.recorder = TransitionRecorder(obs_dim, space.shape[0])  # transitions of its own episodes
        self.fitted = False
        sampling = torch.Generator().manual_seed(seed)  # the model's own noise: a restored agent plans the same
        self.planner = RiskAverseCEM(lambda s, a, m: self.model.step(s, a, m, sampling), REWARDS[cfg.env],
                                     space.low, space.high, cfg.carl.members, planner_config(cfg.carl), seed=seed,
                                     risk_averse=False)

    def add(self, dataset: TransitionDataset) -> None:
        self.datasets.append(dataset)

    def data(self) -> TransitionDataset:
        """Every transition the model learns from: the datasets given, then its own episodes."""
        own = [self.recorder.to_dataset(self._metadata())] if len(self.recorder) else []
        return concatenate([*self.datasets, *own], metadata=self._metadata())

    def _metadata(self) -> DatasetMetadata:
        return DatasetMetadata(self.cfg.env, {}, "train", "carl")

    def record(self, s: np.ndarray, a_task: np.ndarray, a_exec: np.ndarray, r: float, c: float, s_next: np.ndarray,
               terminated: bool, truncated: bool) -> None:
        """``rollout.play_episode``'s ``on_step``: keep the transition for the next fit."""
        self.recorder.add(s, a_task, a_exec, r, c, s_next, terminated, truncated)

    def fit(self, steps: int) -> dict[str, float]:
        """``steps`` Adam steps on all data (standardisation fixed by the first fit)."""
        if steps == 0 or not (self.datasets or len(self.recorder)):
            return {}
        d = self.data()
        if not self.fitted:
            self.model.standardise_on(d.s, d.a_exec, d.s_next)
            self.fitted = True
        return fit_ensemble(self.model, d.s, d.a_exec, d.s_next, d.c, ensemble_config(self.cfg.carl, steps), self.rng)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.planner.act(obs)

    # -- files --------------------------------------------------------------------------------------
    def save(self, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
        """Model, data and config in one safetensors file (written atomically)."""
        d = self.data()
        tensors = {f"model.{k}": v.contiguous() for k, v in self.model.state_dict().items()}
        tensors |= {f"data.{k}": torch.as_tensor(np.ascontiguousarray(v)) for k, v in d.arrays().items()}
        meta = {"format": "mesa_ros.carl/1", "env": self.cfg.env, "seed": str(self.seed),
                "config": json.dumps(self.cfg.to_dict()), "extra": json.dumps(dict(extra or {}))}
        with atomic(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> CarlAgent:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "mesa_ros.carl/1":
            raise ValueError(f"{path} is not a CARL checkpoint (format {meta.get('format')!r})")
        tensors = load_file(str(path))
        agent = cls(stored_config(meta["env"], json.loads(meta["config"])), int(meta["seed"]))
        agent.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        arrays = {k[5:]: v.numpy() for k, v in tensors.items() if k.startswith("data.")}
        agent.add(TransitionDataset(**{k: arrays[k] for k in SCHEMA}, metadata=agent._metadata()))
        agent.fitted = True
        return agent


# -- the two offline stages -----------------------------------------------------------------------
def train_offline(cfg: MesaConfig, train_data: Sequence[TransitionDataset], seed: int) -> CarlAgent:
    """CARL-Offline: the model fitted on the offline training datasets."""
    if not train_data:
        raise ValueError("CARL-Offline needs at least one training dataset")
    agent = CarlAgent(cfg, seed)
    for d in train_data:
        agent.add(d)
    agent.fit(cfg.carl.fit_steps)
    return agent


def train_in_sources(cfg: MesaConfig, tasks: Sequence[Mapping[str, Any]], seed: int,
                     on_episode: Callable[[dict[str, Any]], None] | None = None) -> CarlAgent:
    """CARL: random rollouts, then planned (risk-neutral) rollouts in the training tasks in turn, refitting on
    all data after each; one row per episode (``online.EPISODE_FIELDS``, mode "source") to ``on_episode``."""
    if not tasks:
        raise ValueError("CARL needs at least one training task")
    c = cfg.carl
    agent = CarlAgent(cfg, seed)
    env = online.make_env(cfg)
    try:
        env.reset(seed=seed)
        log = online.EpisodeLog(on_episode)
        explore = random_policy(env.action_space, agent.rng)
        for episode in range(c.init_rollouts + c.source_iterations):
            env.unwrapped.set_task(tasks[episode % len(tasks)])
            agent.planner.reset()
            planned = episode >= c.init_rollouts
            log.add("source", episode + 1, play_episode(env, agent.act if planned else explore, None,
                                                                 agent.record))
            if episode + 1 == c.init_rollouts or not agent.fitted:
                agent.fit(c.fit_steps)
            elif planned:
                agent.fit(c.refit_steps)
    finally:
        env.close()
    return agent


# -- phase 3 ----------------------------------------------------------------------------------------
def run_target(cfg: MesaConfig, task: Mapping[str, Any], agent: CarlAgent, test_data: TransitionDataset | None,
               *, seed: int = 0, episodes: int | None = None,
               on_episode: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Phase 3 for CARL / CARL-Offline: the test dataset added and refitted, then ``episodes`` (default
    ``online.episodes``) risk-averse planned episodes in the test task, a refit after each. Rows as ``online.run``'s."""
    episodes = cfg.online.episodes if episodes is None else episodes
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    agent.planner.risk_averse = True
    if test_data is not None:
        online.check_dataset(test_data, cfg.env, agent.model.obs_dim, agent.model.act_dim)
        agent.add(test_data)
        agent.fit(cfg.carl.refit_steps)
    env = online.make_env(cfg)
    try:
        env.reset(seed=seed, options={"task": dict(task)})
        log = online.EpisodeLog(on_episode)
        for episode in range(1, episodes + 1):
            agent.planner.reset()
            row = log.add("train", episode, play_episode(env, agent.act, None, agent.record))
            agent.fit(cfg.carl.refit_steps)
            if cfg.online.max_total_steps and row["total_steps"] >= cfg.online.max_total_steps:
                break
        return log.rows
    finally:
        env.close()
