"""The adaptation node's life cycle, ROS-free: when to collect, adapt, arm and disarm the shield.

    monitoring --fault--> collecting --enough post-fault transitions--> adapting
        --adapted weights in use by the monitor, shield enabled--> shielding
    (with ``arm_offline`` the shield is enabled at the fault, on the offline layer, below)

- A **fault change** (a new fault, or a second fault on top of the first) in any phase restarts
  collection for the new dynamics: the transitions collected so far are dropped, only transitions
  whose state is stamped at or after the change are accepted, and phase 2 starts again from the
  *offline* (meta-trained) layer, never from a layer adapted to other dynamics. A shield that was
  armed is disarmed while the new data is collected (the monitor's pre-fault state; with ``arm_offline``
  enabled again once the monitor has the offline layer back).
- The robot **healthy again** returns to ``monitoring``: the shield is disarmed, the offline layer
  goes back to the monitor, the buffer is dropped. No shield adapted to a fault that is gone stays on.
- **Armed at the fault** (``arm_offline``, ours; issue #12): the shield is also enabled at the fault change, with
  the offline (meta-trained) layer the monitor holds, and stays on while the post-fault data is collected and
  phase 2 runs; the adapted weights replace it (``shielding`` once they are in use). The paper arms only after
  phase 2; a critic's warning governor protected as well with the meta-trained critic as with the adapted one on
  the training faults (docs/results.md, session 22), and the robot is then protected from the fault on.
- Replies that arrive late (the monitor reporting weights in use, the enable service answering) carry
  the ``epoch`` of the request; a reply of an older epoch is ignored, and a late "enabled" of an older
  epoch is answered by disarming.

The paper (sec. 4.2) adapts once, on one test environment; the reference has no life cycle. The
node executes the returned ``Effect`` values, in order; this class holds no data and does no I/O.
"""
from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    MONITORING = "monitoring"
    COLLECTING = "collecting"
    ADAPTING = "adapting"
    SHIELDING = "shielding"


class Effect(str, Enum):
    """What the node must do, in the order returned."""

    DISARM = "disarm"  # ask the monitor to disable its shield
    RESTORE_OFFLINE = "restore_offline"  # the layer to use is a fresh copy of the offline one; send it to the monitor
    RESET_BUFFER = "reset_buffer"  # drop the collected transitions
    RUN_PHASE2 = "run_phase2"  # adapt a fresh copy of the offline layer on the buffer, then call phase2_done
    SEND_WEIGHTS = "send_weights"  # send the adapted layer to the monitor; report weights_in_use when it uses them
    ARM = "arm"  # ask the monitor to enable its shield; report enabled(epoch, ok)
    LEARN_ONLINE = "learn_online"  # phase 3: update the layer on the buffer


class Lifecycle:
    """Phase, the stamp from which transitions belong to the current dynamics, and the request epoch."""

    def __init__(self, transitions_needed: int, arm_offline: bool = False) -> None:
        if transitions_needed < 1:
            raise ValueError(f"transitions_needed must be >= 1, got {transitions_needed}")
        self.needed = transitions_needed
        self.arm_offline = arm_offline
        self.phase = Phase.MONITORING
        self.epoch = 0  # bumped on every fault change or recovery
        self.since_ns: int | None = None  # first state stamp of the current dynamics
        self.collected = 0
        self.armed = False  # the monitor was asked to enable (and has not been asked to disable since)
        self.enabled_ok = False  # ... and answered that it did, in this epoch
        self.in_use = False  # the monitor reported this epoch's adapted weights in use
        self.retried = False  # an enable refused after the weights were in use was asked again (once per epoch)
        self.adapted = False  # the layer in use differs from the offline one

    def fault(self, stamp_ns: int) -> list[Effect]:
        """Dynamics changed to a faulty one at ``stamp_ns`` (announced or detected); with ``arm_offline`` the shield
        is enabled at once, on the offline layer."""
        effects = self._leave()
        self.phase, self.since_ns, self.collected = Phase.COLLECTING, stamp_ns, 0
        if self.arm_offline:
            self.armed = True
            return effects + [Effect.RESET_BUFFER, Effect.ARM]
        return effects + [Effect.RESET_BUFFER]

    def healthy(self, stamp_ns: int) -> list[Effect]:
        """The robot is healthy again at ``stamp_ns``: back to the pre-fault state."""
        if self.phase is Phase.MONITORING:
            return []
        effects = self._leave()
        self.phase, self.since_ns, self.collected = Phase.MONITORING, stamp_ns, 0
        return effects + [Effect.RESET_BUFFER]

    def accepts(self, stamp_ns: int) -> bool:
        """Whether a transition whose state has this stamp is data of the current fault."""
        return self.phase is not Phase.MONITORING and self.since_ns is not None and stamp_ns >= self.since_ns

    def added(self, count: int) -> list[Effect]:
        """``count`` accepted transitions were stored."""
        if count <= 0 or self.phase is Phase.MONITORING:
            return []
        self.collected += count
        if self.phase is Phase.COLLECTING and self.collected >= self.needed:
            self.phase, self.adapted = Phase.ADAPTING, True
            return [Effect.RUN_PHASE2]
        return [Effect.LEARN_ONLINE] if self.phase is Phase.SHIELDING else []

    def phase2_done(self, epoch: int) -> list[Effect]:
        """Phase 2 of ``epoch`` finished (it ran synchronously, so normally the current epoch)."""
        return [Effect.SEND_WEIGHTS] if self._current(epoch, Phase.ADAPTING) else []

    def weights_in_use(self, epoch: int) -> list[Effect]:
        """The monitor reports the adapted weights of ``epoch`` in use."""
        if not self._current(epoch, Phase.ADAPTING):
            return []
        self.in_use = True
        if self.enabled_ok:  # armed at the fault: the adapted weights now shield
            self.phase = Phase.SHIELDING
        if self.armed:
            return []
        self.armed = True
        return [Effect.ARM]

    def enabled(self, epoch: int, ok: bool) -> list[Effect]:
        """The monitor answered the enable request of ``epoch``."""
        current = epoch == self.epoch and self.phase in (Phase.COLLECTING, Phase.ADAPTING)
        if not ok:
            if current and not self.enabled_ok:  # (a refusal never undoes an enable the monitor confirmed)
                if self.in_use and not self.retried:  # refused before the adapted weights were in use: ask again
                    self.retried = True
                    return [Effect.ARM]
                self.armed = False  # the next report of the weights in use asks again
            return []
        if current:
            self.enabled_ok = True
            if self.in_use:
                self.phase = Phase.SHIELDING
            return []
        if epoch == self.epoch or self.armed:
            return []
        return [Effect.DISARM]  # a stale enable landed after a fault change: take it back

    def _current(self, epoch: int, phase: Phase) -> bool:
        return epoch == self.epoch and self.phase is phase

    def _leave(self) -> list[Effect]:
        """Effects of abandoning the current fault's data and layer; starts a new epoch."""
        self.epoch += 1
        effects = [Effect.DISARM] if self.armed else []
        if self.adapted:
            effects.append(Effect.RESTORE_OFFLINE)
        self.armed = self.adapted = self.enabled_ok = self.in_use = self.retried = False
        return effects
