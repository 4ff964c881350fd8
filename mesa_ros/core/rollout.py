"""The one episode loop: a policy, optionally shielded, acting in an environment, each transition reported.

Every episode an agent collects data, learns or is evaluated in runs ``play_episode``: offline
collection and SAC training (``rollout`` over a budget of transitions or episodes), phase 3 and
evaluation (``online``), CARL's rollouts (``carl_agent``). (The detector study's and the scripted
demo's streams change the task mid-episode and never learn: their own short loops.) Per step::

    a_task = act(s);  a_exec = a_task, or the shield's decision on (s, a_task)
    s', r, terminated, truncated, info = env.step(a_exec);  c = info["c"]
    on_step(s, a_task, a_exec, r, c, s', terminated, truncated)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from mesa_ros.core.dataset import TransitionRecorder
from mesa_ros.core.shield_rule import ShieldDecision

Act = Callable[[np.ndarray], np.ndarray]
Guard = Callable[[np.ndarray, np.ndarray], ShieldDecision]  # a shield: (s, a_task) -> decision
OnStep = Callable[[np.ndarray, np.ndarray, np.ndarray, float, float, np.ndarray, bool, bool], None]


@dataclass
class EpisodeStats:
    """What one episode did: its length, return, whether it violated the constraint, shield overrides, and the sum
    over its steps of the action scale c a governor of the shield ran at (1 per step without one)."""

    steps: int = 0
    episode_return: float = 0.0
    violation: bool = False
    overrides: int = 0
    scale_sum: float = 0.0


def random_policy(action_space: gym.spaces.Box, rng: np.random.Generator) -> Act:
    """Uniform actions in the action space's bounds, drawn from ``rng``."""
    low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
    return lambda obs: rng.uniform(low, high)


def play_episode(env: gym.Env, act: Act, guard: Guard | None = None, on_step: OnStep | None = None, *,
                 seed: int | None = None, max_steps: int | None = None, float32: bool = True) -> EpisodeStats:
    """One episode from ``env.reset(seed=seed)`` until it ends or ``max_steps`` steps were taken. ``float32``:
    a_task as float32 (the networks' precision; offline collection steps with the behaviour policy's own)."""
    stats = EpisodeStats()
    obs, _ = env.reset(seed=seed)
    done = False
    while not done and (max_steps is None or stats.steps < max_steps):
        a_task = np.asarray(act(obs), dtype=np.float32) if float32 else act(obs)
        scale = 1.0 if guard is None else getattr(guard, "scale", 1.0)  # c of this decision (a governor's)
        if guard is None:
            a_exec, overridden = a_task, False
        else:
            decision = guard(obs, a_task)
            a_exec, overridden = decision.action, decision.overridden
        next_obs, reward, terminated, truncated, info = env.step(a_exec)
        c = float(info["c"])
        if on_step is not None:
            on_step(obs, a_task, a_exec, float(reward), c, next_obs, terminated, truncated)
        stats.steps += 1
        stats.episode_return += float(reward)
        stats.violation |= c > 0
        stats.overrides += overridden
        stats.scale_sum += scale
        done = terminated or truncated
        obs = next_obs
    return stats


def rollout(env: gym.Env, act: Act, recorder: TransitionRecorder, *, num_transitions: int | None = None,
            num_episodes: int | None = None, seed: int | None = None, on_step: Callable[[], None] | None = None,
            progress: bool = False, desc: str = "collect") -> TransitionRecorder:
    """Episodes of ``act`` (no shield: ``a_task == a_exec``) until the budget is spent, every transition
    ``add``-ed to ``recorder``; ``on_step`` runs after each (e.g. ``Learner.learn``).

    Exactly one budget is given: ``num_transitions`` steps (the last episode is then cut, see
    ``TransitionRecorder.finish_episode``) or ``num_episodes`` episodes. The first reset uses ``seed``.
    """
    if (num_transitions is None) == (num_episodes is None):
        raise ValueError("give exactly one of num_transitions and num_episodes")
    budget = num_transitions if num_transitions is not None else num_episodes
    if budget < 1:
        raise ValueError(f"the collection budget must be >= 1, got {budget}")
    count_steps = num_transitions is not None
    steps = episodes = 0
    with tqdm(total=budget, desc=desc, unit="step" if count_steps else "episode", disable=not progress) as bar:
        def record(*transition) -> None:
            recorder.add(*transition)
            if on_step is not None:
                on_step()
            if count_steps:
                bar.update(1)

        while (steps if count_steps else episodes) < budget:
            stats = play_episode(env, act, None, record, seed=seed if steps == 0 else None,
                                 max_steps=budget - steps if count_steps else None, float32=False)
            steps, episodes = steps + stats.steps, episodes + 1
            bar.update(0 if count_steps else 1)
    recorder.finish_episode()
    return recorder
