"""The graph with ``detect:=true`` and no announcement (real DDS, realtime): a fault injected by service call is
detected by the adaptation node from the transitions alone, phase 2 runs and the shield comes on; the repair, also
unannounced, is noticed and the shield goes off. The simulator's fault events are ignored. The shipped policy,
safety layer and detector (fitted for that policy)."""
from __future__ import annotations

from std_srvs.srv import SetBool, Trigger

from observer import clean_log, params_with, start_graph, watching


def test_a_fault_is_detected_without_announcement_and_the_shield_comes_on(params_file, ros_env, tmp_path) -> None:
    params = params_with(params_file, tmp_path / "params.yaml", {"mujoco_sim": {"rate_hz": 50.0}})
    graph = start_graph(ros_env, f"params_file:={params}", "fault:=none", "mode:=realtime", "detect:=true")
    with watching(graph) as obs:
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.decisions > 100, "the graph to run")
        assert obs.adaptation["detector"] == "healthy" and obs.detections == []  # no false alarm on healthy running
        assert float(obs.adaptation["detector_threshold"]) > 0
        assert obs.call(SetBool, "/mujoco_sim/faults/bthigh/power_loss", SetBool.Request(data=True)).success
        obs.wait(lambda: obs.detections, "the detection")
        obs.wait(lambda: obs.adaptation.get("state") == "shielding" and obs.shield_enabled == 1.0, "the shield")
        (event, fault_stamp), = obs.fault_events
        detection, = obs.detections
        assert event == "fault" and detection["changed"] == 1.0 and detection["statistic"] > detection["threshold"]
        delay_steps = (detection["stamp_ns"] - fault_stamp) / 50e6  # 20 Hz control: 50 ms per step
        assert 0 <= delay_steps < 100, delay_steps
        assert obs.adaptation["detector"] == "changed"

        assert obs.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request()).success  # repaired, not announced
        obs.wait(lambda: len(obs.detections) == 2, "the return to healthy dynamics")
        obs.wait(lambda: obs.adaptation.get("state") == "monitoring" and obs.shield_enabled == 0.0,
                 "monitoring with the shield off")
        assert obs.detections[1]["changed"] == 0.0 and obs.fault_events[1][0] == "clear"
        assert obs.detections[1]["stamp_ns"] > obs.fault_events[1][1]
    log = clean_log(graph)
    assert "fault announced by detector" in log
