"""A lockstep simulator whose state nobody answers reports the stall: an ERROR in /diagnostics and its log, naming
what it waits for, instead of waiting in silence."""
from __future__ import annotations

import subprocess
import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from mesa_ros import wire
from mesa_ros.core import health

from peer import Peer


def test_an_unanswered_lockstep_state_is_reported_as_a_stall(ros_env) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim"], env=ros_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Peer("stall_probe")
    statuses: list[DiagnosticStatus] = []
    try:
        probe.node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, lambda m: statuses.extend(
            s for s in m.status if s.name == "mujoco_sim: simulation"), 10)
        assert probe.spin_until(lambda: bool(statuses), timeout=20)
        assert statuses[0].level == DiagnosticStatus.OK  # waiting, not yet for long
        assert probe.spin_until(lambda: statuses[-1].level == DiagnosticStatus.ERROR, timeout=health.STALL_S + 10)
        assert "lockstep stalled: no command for the current state" in statuses[-1].message
    finally:
        probe.close()
        proc.terminate()
        log, _ = proc.communicate(timeout=20)
    assert "Traceback" not in log, log
    assert "lockstep stalled" in log and "re-published it" in log and "(step 0)" in log, log
