"""The adaptation node's life cycle in the running graph (real DDS, lockstep), driven by fault services as a
user drives it: fault -> shield armed; faults cleared -> monitoring and the monitor disarmed; a new fault ->
collection starts again from zero for the new dynamics and the shield comes back adapted to it; with arm_on_fault the
shield is on from each fault, on the monitor's own (offline) layer, until the adapted weights replace it."""
from __future__ import annotations

from std_srvs.srv import SetBool, Trigger

from observer import clean_log, params_with, start_graph, watching


def test_fault_clear_and_new_fault_move_the_shield_as_documented(checkpoints, params_file, ros_env, tmp_path) -> None:
    # Realtime at 50 Hz: every node keeps up (in lockstep the simulator outruns the adaptation node's online
    # learning on a loaded machine, and the events queue behind its backlog of step messages).
    params = params_with(params_file, tmp_path / "params.yaml",
                         {"mujoco_sim": {"rate_hz": 50.0}, "adaptation": {"transitions": 100}})
    graph = start_graph(ros_env, f"policy_checkpoint:={checkpoints['policy']}",
                        f"safety_checkpoint:={checkpoints['safety']}", f"params_file:={params}", "fault:=none",
                        "mode:=realtime")
    with watching(graph) as obs:
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.decisions > 10, "the graph to run")
        assert obs.call(SetBool, "/mujoco_sim/faults/ffoot/power_loss", SetBool.Request(data=True)).success, "ffoot"
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and obs.shield_enabled == 1.0, "the shield")
        assert obs.weights_id > 0, "the monitor does not use the adapted weights the adaptation node sent"
        assert obs.level == 0, f"adaptation status level {obs.level} while shielding: {obs.adaptation}"
        assert {hardware for hardware, _ in obs.diag_sources} == {"HalfCheetah-Disabled"}, obs.diag_sources
        stamps = [stamp for _, stamp in obs.diag_sources]
        assert stamps == sorted(stamps) and stamps[-1] > 0, f"status not stamped on the sim clock: {stamps}"

        assert obs.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request()).success, "clear"
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.shield_enabled == 0.0
                 and obs.weights_id == 0.0, "healthy again: monitoring, shield disarmed, the monitor's own checkpoint")
        assert obs.adaptation["collected"] == "0" and obs.level == 0  # OK: healthy, nothing to do

        assert obs.call(SetBool, "/mujoco_sim/faults/bshin/power_loss", SetBool.Request(data=True)).success, "bshin"
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and int(obs.adaptation["epoch"]) == 3
                 and obs.shield_enabled == 1.0, "the shield adapted to the second fault")
        seen = [entry for entry in obs.history if entry[0] != "collecting" and entry[0] != "adapting"]
        assert seen == [("monitoring", 0), ("shielding", 1), ("monitoring", 2), ("shielding", 3)], obs.history
        again = obs.call(Trigger, "/adaptation/fault_cleared", Trigger.Request())  # the manual announcement
        assert again.success, again.message
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.shield_enabled == 0.0, "manual clear")
        assert not obs.call(Trigger, "/adaptation/fault_cleared", Trigger.Request()).success  # nothing to clear
    log = clean_log(graph)
    assert "robot healthy again" in log and "(restarted" not in log


def test_armed_at_the_fault_the_shield_is_on_while_collecting_and_again_after_a_second_fault(
        checkpoints, params_file, ros_env, tmp_path) -> None:
    params = params_with(params_file, tmp_path / "params.yaml",
                         {"mujoco_sim": {"rate_hz": 50.0}, "adaptation": {"transitions": 300, "arm_on_fault": True}})
    graph = start_graph(ros_env, f"policy_checkpoint:={checkpoints['policy']}",
                        f"safety_checkpoint:={checkpoints['adapted']}",  # holds pi_rec: the monitor can shield with it
                        f"params_file:={params}", "fault:=none", "mode:=realtime")
    with watching(graph) as obs:
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.decisions > 10, "the graph to run")
        assert obs.shield_enabled == 0.0
        assert obs.call(SetBool, "/mujoco_sim/faults/ffoot/power_loss", SetBool.Request(data=True)).success, "ffoot"
        obs.wait(lambda: obs.adaptation.get("state") == "collecting" and obs.shield_enabled == 1.0
                 and obs.weights_id == 0.0, "the shield on the monitor's own (offline) layer while collecting")
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and obs.weights_id > 0, "the adapted weights")
        # a second fault on top: disarmed, the offline layer reloaded, then armed on it again while collecting
        assert obs.call(SetBool, "/mujoco_sim/faults/bshin/power_loss", SetBool.Request(data=True)).success, "bshin"
        obs.wait(lambda: obs.adaptation.get("state") == "collecting" and int(obs.adaptation["epoch"]) == 2
                 and obs.shield_enabled == 1.0 and obs.weights_id == 0.0, "the offline layer shielding the new fault")
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and obs.weights_id > 0, "adapted to the second")
        assert obs.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request()).success, "clear"
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.shield_enabled == 0.0
                 and obs.weights_id == 0.0, "healthy again: shield off, the monitor's own checkpoint")
    log = clean_log(graph)
    assert log.count("on the meta-trained layer (armed at the fault") == 2, log[-3000:]
