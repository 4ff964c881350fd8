"""Rebuild transitions from the graph's stamped streams (live topics or a bag), in one place.

A transition is keyed by the stamp of the state the action was chosen in: the state message, the task
action, the executed command and the simulator's step outcome all carry that stamp; the outcome
names the stamp of the next state. Messages may arrive in any order and be repeated (the simulator
re-publishes a state it is waiting on); a repeat must be identical or it is an error.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

ObservationFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
STEP_FIELDS = ("reward", "cost", "terminated", "truncated", "next_stamp_ns")


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
    """Collects keyed messages and emits each transition once all its parts have arrived."""

    def __init__(self, observation_from: ObservationFn, max_pending: int = 100_000) -> None:
        self.observation_from = observation_from
        self.max_pending = max_pending
        self.states: dict[int, np.ndarray] = {}
        self.task_actions: dict[int, np.ndarray] = {}
        self.commands: dict[int, np.ndarray] = {}
        self.steps: dict[int, Mapping[str, float]] = {}
        self.emitted = 0

    @staticmethod
    def _put(store: dict, stamp: int, value, what: str) -> None:
        old = store.get(stamp)
        if old is None:
            store[stamp] = value
        elif not (np.array_equal(old, value) if isinstance(value, np.ndarray) else old == value):
            raise ValueError(f"conflicting {what} messages for stamp {stamp} ns")

    def add_state(self, stamp: int, position: np.ndarray, velocity: np.ndarray) -> None:
        self._put(self.states, stamp, self.observation_from(position, velocity), "state")

    def add_task_action(self, stamp: int, action: np.ndarray) -> None:
        self._put(self.task_actions, stamp, action, "task action")

    def add_command(self, stamp: int, action: np.ndarray) -> None:
        self._put(self.commands, stamp, action, "command")

    def add_step(self, stamp: int, values: Mapping[str, float]) -> None:
        missing = [k for k in STEP_FIELDS if k not in values]
        if missing:
            raise ValueError(f"step message for stamp {stamp} ns lacks {missing}")
        self._put(self.steps, stamp, {k: values[k] for k in STEP_FIELDS}, "step")

    def pop_ready(self) -> list[Transition]:
        """Complete transitions in stamp order; their parts are released (the next state is kept)."""
        ready = []
        for stamp in sorted(self.steps):
            step = self.steps[stamp]
            nxt = int(step["next_stamp_ns"])
            if stamp in self.states and nxt in self.states and stamp in self.commands and stamp in self.task_actions:
                ready.append(Transition(
                    stamp, self.states.pop(stamp), self.task_actions.pop(stamp), self.commands.pop(stamp),
                    float(step["reward"]), float(step["cost"]), self.states[nxt],
                    bool(step["terminated"]), bool(step["truncated"])))
                del self.steps[stamp]
                if ready[-1].terminated or ready[-1].truncated:  # a terminal state starts no transition
                    for store in (self.states, self.task_actions, self.commands):
                        store.pop(nxt, None)
        self.emitted += len(ready)
        self._prune()
        return ready

    @property
    def pending(self) -> int:
        return len(self.steps)

    def _prune(self) -> None:
        """Bound memory: drop the oldest parts beyond ``max_pending`` (e.g. answers to terminal states)."""
        for store in (self.states, self.task_actions, self.commands, self.steps):
            while len(store) > self.max_pending:
                del store[min(store)]
