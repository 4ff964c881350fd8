"""The lockstep graph with ``sync_adaptation:=true`` driven through a fault, its repair and a second fault by
service calls (real DDS): the simulator waits for the adaptation node's ack at each step, including while it
adapts, arms, disarms and reloads the monitor, and never has to go ahead without it (``sync_timeouts`` 0); the
shield comes on, goes off and comes back adapted to the second fault."""
from __future__ import annotations

from std_srvs.srv import SetBool, Trigger

from observer import clean_log, params_with, start_graph, watching


def test_a_synced_lockstep_graph_goes_through_fault_repair_and_a_new_fault_without_a_timeout(
        checkpoints, params_file, ros_env, tmp_path) -> None:
    params = params_with(params_file, tmp_path / "params.yaml", {"adaptation": {"transitions": 100}})
    graph = start_graph(ros_env, f"policy_checkpoint:={checkpoints['policy']}",
                        f"safety_checkpoint:={checkpoints['safety']}", f"params_file:={params}", "fault:=none",
                        "sync_adaptation:=true")
    with watching(graph) as obs:
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.decisions > 10, "the graph to run")
        assert obs.call(SetBool, "/mujoco_sim/faults/ffoot/power_loss", SetBool.Request(data=True)).success
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and obs.shield_enabled == 1.0, "the shield")
        assert obs.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request()).success
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.shield_enabled == 0.0
                 and obs.weights_id == 0.0, "the shield off, the monitor's own weights")
        assert obs.call(SetBool, "/mujoco_sim/faults/bshin/power_loss", SetBool.Request(data=True)).success
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and int(obs.adaptation["epoch"]) == 3
                 and obs.shield_enabled == 1.0, "the shield adapted to the second fault")
        decided = obs.decisions
        obs.wait(lambda: obs.decisions > decided + 100, "the loop going on under the second shield")
        obs.wait(lambda: "sync_timeouts" in obs.sim, "the simulator's status")
        assert obs.sim["mode"] == "lockstep" and obs.sim["sync_timeouts"] == "0", obs.sim
    log = clean_log(graph)
    assert "goes ahead" not in log and "anyway" not in log  # no step without the ack, no ack given up
