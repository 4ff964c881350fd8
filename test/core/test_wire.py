"""The wire format: service names and their parser, stamps, named values, parsing duck-typed messages, no ROS."""
from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest

from mesa_ros import wire


@pytest.mark.parametrize("node", ["mujoco_sim", "/mujoco_sim", "/robot/mujoco_sim", wire.PRIVATE])
@pytest.mark.parametrize("joint", ["ffoot", "hip_4"])
def test_power_loss_service_names_parse_back_to_their_joint(node: str, joint: str) -> None:
    assert wire.power_loss_joint(wire.power_loss_service(node, joint)) == joint


def test_service_names() -> None:
    assert wire.power_loss_service(wire.SIMULATOR, "ffoot") == "/mujoco_sim/faults/ffoot/power_loss"
    assert wire.power_loss_service(wire.PRIVATE, "ffoot") == "~/faults/ffoot/power_loss"
    assert wire.service(wire.SAFETY_MONITOR, wire.ENABLE_SHIELD) == "/safety_monitor/enable"
    assert wire.service("/mujoco_sim/", wire.CLEAR_FAULTS) == "/mujoco_sim/faults/clear"
    for other in ("/mujoco_sim/faults/clear", "/mujoco_sim/set_parameters", "/mujoco_sim/faults/a/b/power_loss"):
        assert wire.power_loss_joint(other) is None, other


@pytest.mark.parametrize("ns", [0, 1, wire.NS - 1, wire.NS, 12 * wire.NS + 345, 2**40 + 7])
def test_stamps_round_trip(ns: int) -> None:
    sec, nanosec = wire.stamp_parts(ns)
    assert 0 <= nanosec < wire.NS
    assert wire.stamp_ns(SimpleNamespace(sec=sec, nanosec=nanosec)) == ns


def test_parsing_takes_any_message_with_the_fields() -> None:
    header = SimpleNamespace(stamp=SimpleNamespace(sec=3, nanosec=50))
    msg = SimpleNamespace(header=header, name=["a", "b"], position=[1.0, 2.0], velocity=[0.5, 0.25], effort=[-1.0, 1.0])
    stamp, position, velocity = wire.parse_state(msg)
    assert stamp == 3 * wire.NS + 50 and position.tolist() == [1.0, 2.0] and velocity.tolist() == [0.5, 0.25]
    stamp, action, proposal = wire.parse_action(msg)
    assert action.tolist() == [-1.0, 1.0] and proposal.tolist() == [1.0, 2.0]
    assert wire.parse_values(msg) == (stamp, {"a": 1.0, "b": 2.0})


def test_step_and_risk_round_trip_through_named_values() -> None:
    step = wire.Step(1.5, 1.0, True, False, 2, 7, 123 * wire.NS, False, {"bthigh": 0.25, "ffoot": -1.0})
    values = step.to_values()
    assert list(values) == [*wire.STEP_FIELDS, "a_exec/bthigh", "a_exec/ffoot"]
    assert all(isinstance(v, float) for v in values.values())
    assert wire.Step.from_values(values) == step
    risk = wire.Risk(math.inf, True, 0.1, True, 3, 9)
    assert list(risk.to_values()) == list(wire.RISK_FIELDS)
    assert wire.Risk.from_values(risk.to_values()) == risk


def test_named_values_lacking_a_field_are_rejected_by_name() -> None:
    values = wire.Risk(0.2, False, 0.1, False, 1, 0).to_values()
    del values["shield_enabled"]
    with pytest.raises(ValueError, match=r"risk message lacks \['shield_enabled'\]"):
        wire.Risk.from_values(values)
    with pytest.raises(ValueError, match=r"step message lacks \['a_exec/\*'\]"):
        wire.Step.from_values(wire.Step(0.0, 0.0, False, False, 0, 0, 1, False, {}).to_values())


def test_episode_and_detection_values() -> None:
    assert wire.Episode(4, 1000, -12.5, 2, True).to_values() == {
        "episode": 4.0, "steps": 1000.0, "return": -12.5, "violations": 2.0, "ended_by_violation": 1.0}
    assert list(wire.Detection(True, 31.0, 20.0, 5).to_values()) == list(wire.DETECTION_FIELDS)


def test_the_wire_format_and_the_bag_converter_import_without_ros() -> None:
    code = ("import sys\nsys.modules.update(rclpy=None, builtin_interfaces=None, sensor_msgs=None)\n"
            "import mesa_ros.wire, mesa_ros.core.assembler, mesa_ros.core.bag_dataset")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

