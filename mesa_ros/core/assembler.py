"""Rebuild transitions from the graph's stamped streams (live topics or a bag), in one place.

A transition is keyed by the stamp of the state the action was chosen in. The simulator's step
outcome (``wire.Step``) carries that stamp, the stamp of the next state, reward, cost, end flags and
the action it actually applied, so s, a_exec, r, c and s' come from the simulator alone.
The task action a_task comes from the command message that the simulator applied (the safety
monitor puts a_exec in ``effort`` and the task policy's proposal in ``position``); when no such
command exists (no monitor in the loop, or a stale step in realtime mode) a_task = a_exec.
Messages may arrive in any order and repeat (the simulator re-publishes the state it waits on).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mesa_ros import wire

ObservationFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Transition:
    """One executed step in the dataset schema's terms (see mesa_ros.core.dataset)."""

    stamp_ns: int
    s: np.ndarray
    a_task: np.ndarray
    a_exec: np.ndarray
    r: float
    c: float
    s_next: np.ndarray
    terminated: bool
    truncated: bool


class TransitionAssembler:
    """Collects keyed messages and emits each transition once its step and both states have arrived."""

    def __init__(self, observation_from: ObservationFn, max_pending: int = 10_000) -> None:
        self.observation_from = observation_from
        self.max_pending = max_pending
        self.states: dict[int, np.ndarray] = {}
        self.commands: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # stamp -> [(a_exec, a_task)]
        self.steps: dict[int, wire.Step] = {}
        self.emitted_stamps: dict[int, None] = {}  # keys of emitted transitions (a repeated step is ignored)
        self.emitted = 0

    def add_state(self, stamp: int, position: np.ndarray, velocity: np.ndarray) -> None:
        self.states.setdefault(stamp, self.observation_from(position, velocity))

    def add_command(self, stamp: int, a_exec: np.ndarray, a_task: np.ndarray | None = None) -> None:
        """A command message: ``a_task`` is its proposal (``position``), absent when none was sent."""
        task = a_task if a_task is not None and len(a_task) else a_exec
        self.commands.setdefault(stamp, []).append((a_exec, task))

    def add_step(self, stamp: int, values: Mapping[str, float]) -> None:
        """A step message's named values (``wire.Step``); ``ValueError`` naming what an incomplete one lacks."""
        try:
            step = wire.Step.from_values(values)
        except ValueError as exc:
            raise ValueError(f"{exc} (stamp {stamp} ns)") from None
        if stamp not in self.emitted_stamps:
            self.steps.setdefault(stamp, step)

    def _task_action(self, stamp: int, a_exec: np.ndarray) -> np.ndarray:
        for executed, proposed in self.commands.pop(stamp, []):
            if np.array_equal(executed, a_exec):
                return proposed
        return a_exec

    def pop_ready(self) -> list[Transition]:
        """Complete transitions in stamp order. A state is kept after use (it is also the previous
        transition's s', which may complete later); ``max_pending`` bounds what is kept."""
        ready = []
        for stamp in sorted(self.steps):
            step = self.steps[stamp]
            nxt = step.next_stamp_ns
            if stamp not in self.states or nxt not in self.states:
                continue
            a_exec = np.fromiter(step.action.values(), dtype=np.float64)
            done = step.terminated or step.truncated
            ready.append(Transition(stamp, self.states[stamp], self._task_action(stamp, a_exec), a_exec,
                                    step.reward, step.cost, self.states.pop(nxt) if done else self.states[nxt],
                                    step.terminated, step.truncated))
            del self.steps[stamp]
            self.emitted_stamps[stamp] = None
        self.emitted += len(ready)
        self._prune()
        return ready

    def _prune(self) -> None:
        """Bound memory: drop the oldest parts beyond ``max_pending`` (used states, answers to terminal states)."""
        for store in (self.states, self.commands, self.steps, self.emitted_stamps):
            while len(store) > self.max_pending:
                del store[min(store)]
