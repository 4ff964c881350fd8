"""/diagnostics levels: each rule from the node's own figures, ROS-free."""
from __future__ import annotations

import math

from mesa_ros.core import health
from mesa_ros.core.health import ERROR, OK, WARN


def test_simulator_warns_only_for_stale_commands_in_the_period() -> None:
    assert health.simulator(0, "realtime")[0] == OK
    level, message = health.simulator(3, "realtime")
    assert level == WARN and "3 stale commands" in message


def test_simulator_errs_when_a_lockstep_state_waits_too_long_for_its_command() -> None:
    assert health.simulator(0, "lockstep", health.STALL_S - 0.1)[0] == OK
    level, message = health.simulator(2, "lockstep", health.STALL_S + 2)
    assert level == ERROR and message.startswith(f"lockstep stalled: no command for the current state for "
                                                 f"{health.STALL_S + 2:.0f} s")


def test_monitor_levels() -> None:
    calm = [False] * 60, [0.01] * 60
    assert health.monitor(True, True, "", *calm)[0] == OK
    assert health.monitor(True, True, "shape mismatch", *calm) == (ERROR, "weights rejected: shape mismatch")
    assert health.monitor(True, False, "", *calm)[0] == ERROR  # enabled, nothing to act with
    assert health.monitor(False, False, "", *calm)[0] == OK  # disabled without recovery: fine
    assert health.monitor(True, True, "", [False] * 60, [0.01] * 59 + [math.nan])[0] == ERROR
    busy = health.monitor(True, True, "", [True] * 40 + [False] * 20, [0.5] * 60)
    assert busy[0] == WARN and "most steps (67% of the last 60)" in busy[1]
    assert health.monitor(False, True, "", [False] * 60, [0.5] * 60)[0] == OK  # disabled: overrides are not acted
    assert health.monitor(True, True, "", [True] * 10, [0.5] * 10)[0] == OK  # too few decisions to judge
    saturated = health.monitor(False, True, "", [False] * 60, [0.995] * 60)
    assert saturated[0] == WARN and "saturated" in saturated[1]
    floor = health.monitor(True, True, "", *calm, scales=[0.85] * 60, min_scale=0.85)
    assert floor[0] == WARN and "slowest, c = 0.85, over the last 60" in floor[1]
    assert health.monitor(True, True, "", *calm, scales=[0.85] * 59 + [0.9], min_scale=0.85)[0] == OK  # it came back up
    assert health.monitor(True, True, "", *calm, scales=[0.85] * 60, min_scale=0.0)[0] == OK  # no governor


def test_adaptation_levels() -> None:
    assert health.adaptation("monitoring", 0, 1000, "", "") == (OK, "monitoring")
    assert health.adaptation("shielding", 1000, 1000, "", "")[0] == OK
    level, message = health.adaptation("collecting", 120, 1000, "", "")
    assert level == WARN and "120/1000" in message
    assert health.adaptation("shielding", 0, 1000, "critic.q1.0.weight", "")[0] == ERROR
    assert health.adaptation("adapting", 0, 1000, "", "no recovery policy")[0] == ERROR
