"""The one learner: its schedule (warm-up, learning_starts, every, updates per round), what each network learns on."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.learner import Learner


class Recorder:
    """Stands in for SAC and the safety layer: records each update's minibatch (and the critic's a' policy)."""

    def __init__(self) -> None:
        self.batches: list = []
        self.policy = "pi_task"  # SAC's policy, used for the critic's targets

    def update(self, batch, task_policy=None) -> dict[str, float]:
        self.batches.append((batch, task_policy))
        return {}

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(1, 7.0)


def transition(i: int) -> tuple:
    s = np.full(2, float(i))
    return s, np.full(1, 1.0), np.full(1, -1.0), 0.0, 0.0, s + 1, False, False  # a_task = 1, a_exec = -1


def test_updates_start_after_learning_starts_and_come_every_nth_step() -> None:
    agent, safety = Recorder(), Recorder()
    learner = Learner(agent, ReplayBuffer(2, 1, 100, action="task"), safety, ReplayBuffer(2, 1, 100, action="exec"),
                      learning_starts=3, every=2, sac_updates=2, safety_updates=3, sac_batch=4, critic_batch=5,
                      explore=lambda obs: np.zeros(1))
    actions = []
    for i in range(7):
        actions.append(float(learner.act(np.zeros(2))[0]))
        learner.add(*transition(i))
    assert actions == [0.0, 0.0, 0.0, 7.0, 7.0, 7.0, 7.0]  # warm-up for the first 3 steps
    assert len(agent.batches) == 2 * 2 and len(safety.batches) == 2 * 3  # two rounds: after steps 4 and 6
    assert {len(b.obs) for b, _ in agent.batches} == {4} and {len(b.obs) for b, _ in safety.batches} == {5}
    assert {float(a) for b, _ in agent.batches for a in b.action.flatten()} == {1.0}  # SAC: the proposal
    assert {float(a) for b, _ in safety.batches for a in b.action.flatten()} == {-1.0}  # critic: what was executed
    assert {p for _, p in safety.batches} == {"pi_task"}  # a' ~ the agent's policy


def test_a_safety_layer_alone_learns_on_its_buffer_and_every_zero_never_learns() -> None:
    safety, buffer = Recorder(), ReplayBuffer(2, 1, 100, action="exec")
    for i in range(5):
        buffer.add(*transition(i))
    learner = Learner(safety=safety, risk_buffer=buffer, task_policy="deployed", every=1)
    learner.learn(3)
    assert len(safety.batches) == 3 and {p for _, p in safety.batches} == {"deployed"}
    idle = Learner(safety=safety, risk_buffer=buffer, task_policy="deployed", every=0)
    idle.learn(10)
    assert idle.steps == 10 and len(safety.batches) == 3  # counted, never learned


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"agent": Recorder()}, "agent with task_buffer"),
    ({"safety": Recorder(), "risk_buffer": ReplayBuffer(2, 1, 10)}, "needs a task policy"),
    ({"agent": Recorder(), "task_buffer": ReplayBuffer(2, 1, 10), "every": -1}, ">= 0"),
])
def test_bad_configuration_is_a_clear_error(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Learner(**kwargs)
