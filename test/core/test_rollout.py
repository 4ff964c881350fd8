"""The one episode loop: what it reports per step, where it stops, and the budgets of ``rollout`` over it."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros import envs
from mesa_ros.core.dataset import DatasetMetadata, TransitionRecorder
from mesa_ros.core.rollout import play_episode, random_policy, rollout
from mesa_ros.core.shield_rule import ShieldDecision


def test_an_episode_reports_every_transition_and_the_shield_decides_what_runs() -> None:
    env = envs.make("Navigation-2", max_episode_steps=20)
    seen: list[tuple] = []
    guard = lambda s, a: ShieldDecision(np.zeros(2, np.float32), True, 1.0)  # noqa: E731 (always overrides)
    stats = play_episode(env, lambda obs: np.ones(2), guard, lambda *t: seen.append(t), seed=3)
    assert stats.steps == len(seen) == 20 and stats.overrides == 20
    assert all(t[1].dtype == np.float32 and np.all(t[1] == 1) and np.all(t[2] == 0) for t in seen)  # a_task, a_exec
    assert stats.episode_return == pytest.approx(sum(t[3] for t in seen))
    np.testing.assert_array_equal(seen[1][0], seen[0][5])  # s of a step is s' of the one before
    assert stats.scale_sum == 20.0  # a guard without a governor runs at c = 1


def test_an_episode_sums_the_governors_action_scale_of_each_decision() -> None:
    class Governed:  # a shield whose governor slows the gait by 0.05 per decision
        scale = 1.0

        def __call__(self, s, a):
            decision = ShieldDecision((self.scale * a).astype(np.float32), False, 0.0)
            self.scale -= 0.05
            return decision
    stats = play_episode(envs.make("Navigation-2", max_episode_steps=4), lambda obs: np.ones(2), Governed(), seed=3)
    assert stats.overrides == 0 and stats.scale_sum == pytest.approx(1.0 + 0.95 + 0.9 + 0.85)


def test_max_steps_cuts_an_episode_and_float32_false_keeps_the_policys_actions() -> None:
    env = envs.make("Navigation-2", max_episode_steps=100)
    actions: list[np.ndarray] = []
    stats = play_episode(env, lambda obs: np.full(2, 0.5, np.float64), None, lambda *t: actions.append(t[1]),
                         max_steps=7, float32=False)
    assert stats.steps == 7 and not stats.violation and stats.overrides == 0
    assert {a.dtype for a in actions} == {np.dtype(np.float64)}


@pytest.mark.parametrize(("budget", "transitions", "episodes"), [({"num_transitions": 45}, 45, 3),
                                                                 ({"num_episodes": 2}, 40, 2)])
def test_rollout_spends_exactly_its_budget(budget, transitions: int, episodes: int) -> None:
    env = envs.make("Navigation-2", max_episode_steps=20, terminate_on_violation=False)
    recorder = TransitionRecorder(2, 2, capacity=8)
    rollout(env, random_policy(env.action_space, np.random.default_rng(0)), recorder, seed=0, **budget)
    data = recorder.to_dataset(DatasetMetadata("Navigation-2", {}, "train", "random"))
    assert len(data) == transitions
    ends = int(np.sum(data.truncated | data.terminated))
    assert ends == episodes  # the cut last episode is marked as ended (finish_episode)


def test_a_budget_must_be_one_positive_number() -> None:
    env = envs.make("Navigation-2")
    act = random_policy(env.action_space, np.random.default_rng(0))
    with pytest.raises(ValueError, match="exactly one"):
        rollout(env, act, TransitionRecorder(2, 2), num_transitions=5, num_episodes=1)
    with pytest.raises(ValueError, match=">= 1"):
        rollout(env, act, TransitionRecorder(2, 2), num_transitions=0)
