"""The graph with the shipped checkpoints (the README's demo scenario, shortened): after adaptation the shield
overrides a minority of the policy's own post-fault steps, and exactly where the critic flags risk."""
from __future__ import annotations

from observer import shielded_run

FAULT_STEP, AFTER_SHIELD = 200, 600


def test_shipped_shield_overrides_a_minority_where_the_critic_flags_risk(tmp_path, ros_env) -> None:
    stamped, _ = shielded_run(tmp_path / "bag", ros_env, FAULT_STEP, AFTER_SHIELD)  # shipped checkpoints, fshin
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    assert sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # a minority of the steps
    for d in shielded:  # the Recovery RL rule, decision by decision: override iff Q_risk(s, a_task) > eps_risk
        assert bool(d["overridden"]) == (d["q_risk"] > d["eps_risk"]), d
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])
