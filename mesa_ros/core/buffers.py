"""Replay buffer: a fixed-capacity ring of schema transitions, sampled as ``Batch`` minibatches.

Each transition keeps both actions, so one buffer type serves both learners of Recovery RL / MESA:
the task policy's buffer samples the *proposed* action a_task (relabelling: SAC learns from what
it proposed even when the shield executed pi_rec), the risk buffer the *executed* action a_exec.
Storage and the episode bookkeeping are ``TransitionRecorder``'s, so the buffer converts to and from
a ``TransitionDataset`` without a second copy of the schema.
"""
from __future__ import annotations

import numpy as np

from mesa_ros.core.batch import Batch
from mesa_ros.core.dataset import ActionKind, TransitionRecorder, to_batch


class ReplayBuffer(TransitionRecorder):
    """Preallocated ring buffer (SB3-style): once full, each ``add`` overwrites the oldest transition.

    ``action`` is the action kind ``sample`` returns by default: "task" for the task policy's
    buffer, "exec" for the safety critic's (risk) buffer. ``to_dataset(metadata)`` exports the stored
    transitions oldest first; ``ReplayBuffer.from_dataset(dataset, capacity, action=..., seed=...)``
    preloads one (e.g. the test-environment data before online learning).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        capacity: int,
        action: ActionKind = "task",
        seed: int | None = None,
    ) -> None:
        if action not in ("task", "exec"):
            raise ValueError(f"action must be 'task' or 'exec', got {action!r}")
        super().__init__(obs_dim, act_dim, capacity)
        self.action = action
        self.rng = np.random.default_rng(seed)

    def _claim_slot(self) -> int:
        i = self._pos
        self._pos = (self._pos + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        return i

    def sample(self, batch_size: int, action: ActionKind | None = None) -> Batch:
        """``batch_size`` stored transitions drawn uniformly with replacement, as float32 tensors."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = self.rng.integers(0, self._size, size=batch_size)
        return to_batch(self._arrays, index, action or self.action)
