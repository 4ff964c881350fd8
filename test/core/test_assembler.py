"""Transitions rebuilt from keyed messages: any order, repeats, terminal states, a_task/a_exec pairing."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.assembler import TransitionAssembler
from mesa_ros.envs.session import SimSession

DT = 50_000_000


def observation(position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    return np.concatenate((position, velocity))


def step_values(stamp: int, reward: float, a_exec, done: bool = False) -> dict[str, float]:
    values = {"reward": reward, "cost": float(done), "terminated": float(done), "truncated": 0.0, "episode": 0.0,
              "step": float(stamp // DT), "next_stamp_ns": float(stamp + DT), "stale": 0.0}
    return values | {f"a_exec/j{i}": float(a) for i, a in enumerate(a_exec)}


def messages(n: int, rng: np.random.Generator) -> list[tuple[str, tuple]]:
    out = []
    for k in range(n + 1):
        out.append(("state", (k * DT, rng.normal(size=2), rng.normal(size=2))))
    for k in range(n):
        a_task = rng.uniform(-1, 1, size=2)
        a_exec = a_task if k % 2 else -a_task  # every other step overridden
        out.append(("command", (k * DT, a_exec, a_task)))
        out.append(("step", (k * DT, step_values(k * DT, float(k), a_exec, done=k == n - 1))))
    return out


def feed(assembler: TransitionAssembler, items, live: bool = True) -> list:
    """Live: pop after every message (the adaptation node); else once at the end (a bag)."""
    ready = []
    for kind, args in items:
        getattr(assembler, f"add_{kind}")(*args)
        if live:
            ready += assembler.pop_ready()
    return ready + assembler.pop_ready()


@pytest.mark.parametrize("seed", range(3))
def test_any_order_and_repeats_give_the_same_transitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    items = messages(20, rng)
    in_order = feed(TransitionAssembler(observation), items)
    shuffled = [items[i] for i in rng.permutation(len(items))]
    repeated = shuffled + [items[i] for i in rng.integers(len(items), size=15)]  # re-published duplicates
    out_of_order = feed(TransitionAssembler(observation), repeated, live=False)
    assert len(in_order) == len(out_of_order) == 20
    assert [t.stamp_ns for t in sorted(out_of_order, key=lambda t: t.stamp_ns)] == [k * DT for k in range(20)]
    for a, b in zip(in_order, sorted(out_of_order, key=lambda t: t.stamp_ns)):
        for field in ("s", "a_task", "a_exec", "s_next"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert in_order[-1].terminated and in_order[-1].c == 1.0
    overridden = [not np.array_equal(t.a_task, t.a_exec) for t in in_order]
    assert overridden == [k % 2 == 0 for k in range(20)]


def test_a_task_comes_from_the_command_the_simulator_applied() -> None:
    assembler = TransitionAssembler(observation)
    assembler.add_state(0, np.zeros(2), np.zeros(2))
    assembler.add_state(DT, np.ones(2), np.ones(2))
    assembler.add_command(0, np.array([0.1, 0.1]), np.array([0.5, 0.5]))  # a second answer the sim ignored
    assembler.add_command(0, np.array([0.2, 0.2]), np.array([0.7, 0.7]))
    assembler.add_step(0, step_values(0, 1.0, [0.2, 0.2]))
    (t,) = assembler.pop_ready()
    np.testing.assert_array_equal(t.a_exec, [0.2, 0.2])
    np.testing.assert_array_equal(t.a_task, [0.7, 0.7])


def test_without_a_command_a_task_is_the_executed_action() -> None:
    assembler = TransitionAssembler(observation)
    assembler.add_state(0, np.zeros(2), np.zeros(2))
    assembler.add_state(DT, np.ones(2), np.ones(2))
    assembler.add_step(0, step_values(0, 1.0, [0.3, -0.3]))
    (t,) = assembler.pop_ready()
    np.testing.assert_array_equal(t.a_task, t.a_exec)


def test_incomplete_step_message_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"lacks \['reward'\]"):
        TransitionAssembler(observation).add_step(0, {k: v for k, v in step_values(0, 0.0, [0.0]).items()
                                                      if k != "reward"})
    with pytest.raises(ValueError, match=r"lacks \['a_exec/\*'\]"):
        TransitionAssembler(observation).add_step(0, step_values(0, 0.0, []))


def test_session_stamps_and_episode_ends() -> None:
    sim = SimSession("HalfCheetah-Disabled", seed=1, max_episode_steps=3)
    stamps = [sim.state.stamp_ns]
    for _ in range(3):
        out = sim.step(np.zeros(6))
        stamps.append(out.next_state.stamp_ns)
    assert out.truncated and out.finished_episode.steps == 3 and out.finished_episode.ended_by == "horizon"
    assert out.reset_state.stamp_ns == stamps[-1] + sim.dt_ns and out.reset_state.episode == 1
    assert np.all(np.diff(stamps) == sim.dt_ns)
    with pytest.raises(ValueError, match="action has shape"):
        sim.step(np.zeros(5))
