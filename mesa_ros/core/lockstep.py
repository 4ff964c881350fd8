"""The lockstep simulator waiting for the adaptation node (``mujoco_sim``'s ``lockstep_sync_adaptation``).

In lockstep the simulator steps as soon as the safety monitor answers, so the adaptation node, which takes the
transitions in from deep queues, falls behind, and its phase 2 takes as many sim steps as the machine allows: the
sim stamp at which the shield comes on (and so what a demo compares) depended on the machine's load. With this
gate the command for a state is applied only once the adaptation node has acknowledged the step before it
(``wire.ADAPTATION_ACK``, stamp >= that step's key); the node withholds its ack during phase 2 and until the
weights it sent are in use and the shield's enable has been answered, and marks the ack after such a wait
``resync``: the command held meanwhile answered the state before the change, so it is dropped and the state's
command asked for again. Collection, phase 2 and arming then take the same sim steps on any machine; their robot
time is reported apart (transitions x dt + phase-2 compute). If no ack comes within ``timeout_s`` the step goes
ahead (counted in ``timeouts``, shown in the simulator's ``/diagnostics``); the adaptation node itself stops waiting
for weights the monitor never reports in use (refused) after 30 s.
"""
from __future__ import annotations

import numpy as np


class AdaptationSync:
    """Holds each lockstep command until the adaptation node has acknowledged the step before it."""

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"lockstep sync timeout must be > 0 s, got {timeout_s}")
        self.timeout_s = timeout_s
        self.acked = -1  # the newest stamp acknowledged
        self.last_key: int | None = None  # the key (state stamp) of the last step applied; None: none yet
        self.pending: np.ndarray | None = None  # the current state's command, held until the ack
        self.waiting_since: float | None = None  # when a command was first held for the current state
        self.timeouts = 0

    @property
    def ready(self) -> bool:
        """Whether the adaptation node has acknowledged the last step applied."""
        return self.last_key is None or self.acked >= self.last_key

    def command(self, action: np.ndarray, now: float) -> np.ndarray | None:
        """The current state's command: returned to apply now, or held (None) until the ack."""
        if self.ready:
            return action
        self.pending = action
        if self.waiting_since is None:
            self.waiting_since = now
        return None

    def ack(self, stamp: int, resync: bool) -> tuple[np.ndarray | None, bool]:
        """An ack: (the held command to apply now or None, whether to ask for the current state's command again)."""
        self.acked = max(self.acked, stamp)
        if not self.ready:
            return None, False
        self.waiting_since = None
        pending, self.pending = (None if resync else self.pending), None
        return pending, resync

    def applied(self, key: int) -> None:
        """A step was applied to the state stamped ``key``: the next one waits for its ack."""
        self.last_key, self.pending, self.waiting_since = key, None, None

    def expire(self, now: float) -> np.ndarray | None:
        """After ``timeout_s`` without the ack the step goes ahead: the held command to apply now (None: none)."""
        if self.ready or self.waiting_since is None or now - self.waiting_since < self.timeout_s:
            return None
        self.timeouts += 1
        self.acked = self.last_key if self.last_key is not None else self.acked
        self.waiting_since = None
        pending, self.pending = self.pending, None
        return pending
