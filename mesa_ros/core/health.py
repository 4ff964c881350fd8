"""What the ``/diagnostics`` levels of each node mean, ROS-free: one rule per node, from its own figures.

Levels are those of ``diagnostic_msgs/DiagnosticStatus`` (OK 0, WARN 1, ERROR 2). ERROR: the safety layer
cannot do its job (a network with NaN, weights rejected, a shield enabled without a recovery policy or
refused). WARN: it works but something needs a look (stale commands in realtime, the shield overriding
most steps, a governor holding the gait at its slowest, a critic saturated at 1, a faulted robot without a shield
while data is collected).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

OK, WARN, ERROR = 0, 1, 2
MOST_STEPS = 0.5  # an override rate above this over the recent window is "most steps"
MIN_WINDOW = 50  # decisions needed before the rate or saturation is judged
SATURATED = 0.99  # Q_risk at or above this on every recent state: the critic says "violation" everywhere


STALL_S = 10.0  # lockstep: a state unanswered this long is reported (the graph re-publishes it every 0.5 s)


def simulator(stale_since_last: int, mode: str, waiting_s: float = 0.0) -> tuple[int, str]:
    """mujoco_sim: stale control steps (no command in time, safe_action applied) since the last report; in lockstep,
    how long the current state has waited for its command (``waiting_s``; before the first step too)."""
    if waiting_s >= STALL_S:
        return ERROR, (f"lockstep stalled: no command for the current state for {waiting_s:.0f} s (is the safety "
                       f"monitor running and subscribed to the state and the task action?)")
    if stale_since_last:
        return WARN, f"{stale_since_last} stale commands in the last period ({mode}): safe_action applied"
    return OK, "running"


def monitor(enabled: bool, has_recovery: bool, weights_error: str, overridden: Sequence[bool],
            risks: Sequence[float], input_error: str = "", failed_safe: int = 0, scales: Sequence[float] = (),
            min_scale: float = 0.0) -> tuple[int, str]:
    """safety_monitor: from its state and its recent decisions (override flags, Q_risk(s, a_task), the governor's
    action scale c of each, ``min_scale`` its floor); as a ros2_control filter also its inputs (a joint state it
    cannot use; commands answered with safe_action)."""
    if weights_error:
        return ERROR, f"weights rejected: {weights_error}"
    if input_error:
        return ERROR, f"failing safe: {input_error}"
    if enabled and not has_recovery:
        return ERROR, "shield enabled without a recovery policy: it cannot act"
    if any(math.isnan(r) for r in risks):
        return ERROR, "Q_risk is NaN"
    rate = sum(overridden) / len(overridden) if overridden else 0.0
    if enabled and len(overridden) >= MIN_WINDOW and rate > MOST_STEPS:
        return WARN, f"shield overriding most steps ({rate:.0%} of the last {len(overridden)})"
    if enabled and len(scales) >= MIN_WINDOW and min_scale > 0 and max(scales) <= min_scale:
        return WARN, (f"governor holding the gait at its slowest, c = {min_scale:g}, over the last {len(scales)} "
                      "decisions: the fault may need more than a slower gait")
    if failed_safe:
        return WARN, f"{failed_safe} commands answered with safe_action in the last period (stale or invalid input)"
    if len(risks) >= MIN_WINDOW and min(risks) >= SATURATED:
        return WARN, f"critic saturated: Q_risk >= {SATURATED} on all of the last {len(risks)} states"
    return OK, f"shield {'enabled' if enabled else 'disabled'}, override rate {rate:.3f}"


def adaptation(phase: str, collected: int, needed: int, nonfinite: str, refused: str) -> tuple[int, str]:
    """adaptation: its life-cycle phase, a network with non-finite weights, a refused enable request."""
    if nonfinite:
        return ERROR, f"non-finite weights in {nonfinite}: not sent to the monitor"
    if refused:
        return ERROR, f"the monitor refused to enable the shield: {refused}"
    if phase in ("collecting", "adapting"):
        return WARN, f"fault: shield off while {phase} ({collected}/{needed} transitions)"
    return OK, phase

