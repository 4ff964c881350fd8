"""The graph with the shipped checkpoints (the README's demo scenario, shortened), fshin: with the paper's rule and
sequence (armed after phase 2) the shield overrides a minority of the policy's own post-fault steps, exactly where the
critic flags risk; with the shipped critic's warning governor (its default, armed at the fault on the meta-trained
critic, then on the adapted one) it never overrides and slows the gait by the rule, replayed decision by decision from
the risk topic."""
from __future__ import annotations

import numpy as np

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.bags import read_messages
from mesa_ros.core.config import stored_config
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.paths import config_file

from observer import params_with, shielded_run

FAULT_STEP, AFTER_SHIELD = 200, 600


def test_shipped_shield_overrides_a_minority_where_the_critic_flags_risk(tmp_path, ros_env) -> None:
    params = params_with(config_file("cheetah_fault.yaml"), tmp_path / "params.yaml",
                         {"safety_monitor": {"risk_budget": 0.0},  # no governor: the paper's rule ...
                          "adaptation": {"arm_on_fault": False}})  # ... and its sequence: armed after phase 2
    stamped, _ = shielded_run(tmp_path / "bag", ros_env, FAULT_STEP, AFTER_SHIELD, f"params_file:={params}",
                              "sync_adaptation:=true")  # the same steps on any load
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    assert sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # a minority of the steps
    for d in shielded:  # the Recovery RL rule, decision by decision: override iff Q_risk(s, a_task) > eps_risk
        assert bool(d["overridden"]) == (d["q_risk"] > d["eps_risk"]), d
    assert any(d["overridden"] for d in shielded)
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])


def test_shipped_critic_slows_the_gait_on_its_warnings(tmp_path, ros_env) -> None:
    bag = tmp_path / "bag"
    # the simulator waits for the adaptation node (sync_adaptation): the adapted weights come at one step on any load
    stamped, _ = shielded_run(bag, ros_env, FAULT_STEP, AFTER_SHIELD, "sync_adaptation:=true")
    shipped = checkpoint.load(default_checkpoint("HalfCheetah-Disabled", "safety"))
    cfg = stored_config("HalfCheetah-Disabled", shipped.config).critic_governor
    assert cfg.budget > 0
    # the governor replayed on the decisions in the order they were made: a new one at the enable and with each new
    # weights (c carried over), each decision's warning 1[q_risk > eps_risk] counted after its scale was used
    # armed at the fault (config/cheetah_fault.yaml: arm_on_fault) on the meta-trained critic the monitor started with
    # (weights v1), then the adapted one (v2 and later)
    on = [(stamp, d["weights_version"]) for stamp, d in stamped if d["shield_enabled"]]
    fault_stamp = round(FAULT_STEP * 0.05 * 1e9)  # the simulator's clock: one control period of 0.05 s per step
    assert fault_stamp <= on[0][0] <= fault_stamp + 2 * round(0.05 * 1e9) and on[0][1] == 1
    assert on[-1][1] >= 2
    governor, version, expected, counts = None, None, {}, {}
    for stamp, d in stamped:
        counts[stamp] = counts.get(stamp, 0) + 1
        if not d["shield_enabled"]:
            governor = None
            continue
        assert not d["overridden"]  # never pi_rec
        if governor is None or d["weights_version"] != version:
            governor, version = RiskGovernor(cfg, 1.0 if governor is None else governor.scale), d["weights_version"]
        expected[stamp] = governor.scale
        governor.update(float(d["q_risk"] > d["eps_risk"]))
    executed = {}
    for _, _, msg in read_messages(bag, {wire.COMMAND}):
        stamp, a_exec, a_task = wire.parse_action(msg)
        executed.setdefault(stamp, []).append((a_exec, a_task))
    checked, slowest = 0, 1.0
    for stamp, scale in expected.items():
        commands = {(tuple(e), tuple(t)) for e, t in executed.get(stamp, [])}
        if counts[stamp] == 1 and len(commands) == 1:  # one decision and one command at this stamp
            (a_exec, a_task), = commands
            np.testing.assert_allclose(a_exec, scale * np.asarray(a_task), rtol=1e-5, atol=1e-6)
            checked += 1
            slowest = min(slowest, scale)
    assert checked >= 0.9 * len(expected)
    assert slowest < 1.0  # fshin's warnings slowed the executed gait
