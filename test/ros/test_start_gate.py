"""Start gates: nothing is stepped before the awaited subscribers hear it; scheduled faults land exactly."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState

from mesa_ros import wire
from mesa_ros.nodes import qos
from mesa_ros.nodes.start_gate import missing_subscribers, parse_waits

from sim_driver import COMMAND, GEARS, Driver, actuated


def test_wait_entries_parse_and_bad_ones_are_named() -> None:
    assert parse_waits(["a:/x", "b:/x", "", "a:/y"]) == {"/x": {"a", "b"}, "/y": {"a"}}
    for bad in ("bag_recorder", ":/x", "a:x"):
        with pytest.raises(ValueError, match=f"entry '{bad}' must read <node>:/<topic>"):
            parse_waits([bad])


def test_gate_opens_only_when_every_named_subscriber_is_there_and_matched() -> None:
    waits = {"/s": {"rec", "pol"}}
    assert missing_subscribers(waits, {"/s": {"rec"}}, {"/s": 1}, {"/s": 1}) == ["pol on /s"]
    assert missing_subscribers(waits, {"/s": {"rec", "pol"}}, {"/s": 1}, {"/s": 2}) == \
        ["1 of 2 subscriptions matched on /s"]
    assert missing_subscribers(waits, {"/s": {"rec", "pol", "x"}}, {"/s": 3}, {"/s": 3}) == []


def _spin(executor, seconds: float, until=lambda: False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        executor.spin_once(timeout_sec=0.05)


def test_simulator_publishes_nothing_before_its_listener_and_then_starts_at_stamp_0(ros_env) -> None:
    sim = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args", "-p",
                            "wait_for_subscribers:=['late_listener:/mujoco_sim/state']"], env=ros_env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        probe = rclpy.create_node("probe", context=context)
        executor.add_node(probe)
        seen: list[int] = []
        probe.create_subscription(JointState, wire.STATE, lambda m: seen.append(wire.parse_state(m)[0]),
                                  qos.LOGGER_SUB)
        _spin(executor, 4.0)
        assert seen == []  # the probe is matched, but the awaited node is not there yet
        late = rclpy.create_node("late_listener", context=context)
        executor.add_node(late)
        late.create_subscription(JointState, wire.STATE, lambda m: None, qos.LOGGER_SUB)
        _spin(executor, 20.0, until=lambda: bool(seen))
        assert seen and seen[0] == 0
    finally:
        rclpy.shutdown(context=context)
        sim.terminate()
        log, _ = sim.communicate(timeout=20)
    assert "waiting for subscribers: /mujoco_sim/state <- late_listener" in log and "subscribers matched" in log


def test_a_listener_that_never_comes_is_a_clear_error(ros_env) -> None:
    result = subprocess.run([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args", "-p",
                             "wait_for_subscribers:=['bag_recorder:/mujoco_sim/step']", "-p",
                             "wait_for_subscribers_s:=1.0"], env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "waited 1 s for subscribers that never came: bag_recorder on /mujoco_sim/step" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    bad = subprocess.run([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args", "-p",
                          "wait_for_subscribers:=['bag_recorder:/nope']"], env=ros_env, capture_output=True,
                         text=True, timeout=60)
    assert (
        bad.returncode == 1 and "wait_for_subscribers names ['/nope'], which mujoco_sim does not publish" in bad.stderr
    )


@pytest.mark.parametrize("mode", ["lockstep", "realtime"])
def test_scheduled_fault_lands_just_before_its_step(ros_env, mode: str) -> None:
    """Step k's command acts in state k; the state after step k carries that step's actuator torques."""
    at = 7
    driver = Driver(ros_env, "-p", f"mode:={mode}", "-p", "rate_hz:=50.0", "-p", f"fault.scheduled_step:={at}",
                    "-p", "fault.scheduled_joints:=[ffoot, bshin]", "-p", "fault.power_scale:=0.5",
                    "-p", "safe_action:=[0.5, -0.4, 0.3, -0.6, 0.7, 0.8]",
                    "-p", "wait_for_subscribers:=['fault_test_driver:/mujoco_sim/state']")
    try:
        driver.spin_steps(at + 5)
        stamps, torques = np.array(driver.stamps), np.array([actuated(e) for e in driver.efforts])
        assert np.all(np.diff(stamps) == 50_000_000) and stamps[0] == 0  # no reset: state i follows step i - 1
        np.testing.assert_allclose(torques[1:at + 1], np.tile(GEARS * COMMAND, (at, 1)))  # steps 0 .. at-1 healthy
        faulted = GEARS * COMMAND * np.array([1, 0.5, 1, 1, 1, 0.5])
        np.testing.assert_allclose(torques[at + 1:], np.tile(faulted, (len(torques) - at - 1, 1)))
        assert driver.fault_state == pytest.approx({"bthigh": 1, "bshin": 0.5, "bfoot": 1, "fthigh": 1,
                                                    "fshin": 1, "ffoot": 0.5})
    finally:
        log = driver.close()
    assert f"scheduled fault at step {at}: bshin, ffoot power scale set to 0.5" in log or \
        f"scheduled fault at step {at}: ffoot, bshin power scale set to 0.5" in log, log


def test_listener_table_matches_the_nodes_real_subscriptions(tmp_path, checkpoints) -> None:
    """wire.LISTENERS (from which the graph derives its start gates) names only topics each node subscribes."""
    from mesa_ros.nodes.adaptation import AdaptationNode
    from mesa_ros.nodes.bag_recorder import BagRecorderNode
    from mesa_ros.nodes.safety_monitor import SafetyMonitorNode
    from mesa_ros.nodes.task_policy import TaskPolicyNode

    params = {"task_policy": {"checkpoint": str(checkpoints["policy"])},
              "safety_monitor": {"checkpoint": str(checkpoints["safety"])},
              "adaptation": {"checkpoint": str(checkpoints["safety"]), "policy_checkpoint": str(checkpoints["policy"])},
              "bag_recorder": {"output": str(tmp_path / "bag")}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({name: {"ros__parameters": p} for name, p in params.items()}))
    rclpy.init(args=["--ros-args", "--params-file", str(path)])
    try:
        for cls in (TaskPolicyNode, SafetyMonitorNode, AdaptationNode, BagRecorderNode):
            node = cls()
            subscribed = {s.topic_name for s in node.subscriptions}
            assert set(wire.LISTENERS[node.get_name()]) <= subscribed, node.get_name()
            getattr(node, "close", lambda: None)()
            node.destroy_node()
    finally:
        rclpy.shutdown()


def test_an_unparsable_ros_argument_is_one_line_not_a_traceback(ros_env) -> None:
    result = subprocess.run([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args", "-p",
                             "wait_for_subscribers:=[a:/b]"], env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "invalid ROS arguments: failed to initialize rcl" in result.stderr
    assert "Traceback" not in result.stderr
