"""The graph with the shipped checkpoints (the README's demo scenario, shortened): after adaptation the shield
overrides a minority of the policy's own post-fault steps, and exactly where the critic flags risk."""
from __future__ import annotations

import subprocess
from pathlib import Path

from mesa_ros import wire
from mesa_ros.core.bags import read_messages

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
FAULT_STEP, AFTER_SHIELD = 200, 600


def test_shipped_shield_overrides_a_minority_where_the_critic_flags_risk(tmp_path, ros_env) -> None:
    bag = tmp_path / "bag"
    cmd = [str(MESA_ROS), "launch", "cheetah_fault", f"fault_step:={FAULT_STEP}", "max_steps:=20000",
           f"steps_after_shield:={AFTER_SHIELD}", "record_bag:=true", f"bag_dir:={bag}"]  # shipped checkpoints, fshin
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=400)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"max_steps_after_shield={AFTER_SHIELD} reached" in log, log[-3000:]
    stamped = [wire.parse_values(msg) for _, _, msg in read_messages(bag, {wire.RISK})]
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    # one decision per state until the simulator stopped; reset states and the last state add a few stamps
    assert AFTER_SHIELD <= len({stamp for stamp, d in stamped if d["shield_enabled"]}) <= AFTER_SHIELD + 20
    assert sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # a minority of the steps
    for d in shielded:  # the Recovery RL rule, decision by decision: override iff Q_risk(s, a_task) > eps_risk
        assert bool(d["overridden"]) == (d["q_risk"] > d["eps_risk"]), d
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])
