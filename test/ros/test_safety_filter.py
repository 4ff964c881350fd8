"""safety_monitor as a ros2_control safety filter (``interface: ros2_control``), over DDS: joint states by name
(shuffled, with an extra joint), Float64MultiArray commands in the controller's own joint order, the override,
and failing safe on a NaN command, a joint state that lacks a joint, and a stale state; nothing crashes."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from mesa_ros import wire
from mesa_ros.envs import make, model_joint_names
from mesa_ros.nodes import qos

from peer import Peer

ENV = "HalfCheetah-Disabled"
ORDER = ("ffoot", "bthigh", "fshin", "bshin", "fthigh", "bfoot")  # the controllers' joint order


def test_the_filter_maps_joints_by_name_overrides_and_fails_safe(checkpoints, ros_env) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.safety_monitor", "--ros-args",
                             "-p", f"checkpoint:={checkpoints['adapted']}", "-p", "enabled:=true",
                             "-p", "eps_risk:=1.0", "-p", "interface:=ros2_control", "-p", "max_state_age_s:=0.3",
                             "-p", f"command_joints:={list(ORDER)}"], env=ros_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    probe = Peer("filter_probe")
    node = probe.node
    out: list[np.ndarray] = []
    risk: list[dict[str, float]] = []
    diag: list[tuple[int, str]] = []
    node.create_subscription(Float64MultiArray, "/effort_controller/commands", lambda m: out.append(np.array(m.data)),
                             qos.STREAM_PUB)
    node.create_subscription(JointState, wire.RISK, lambda m: risk.append(wire.parse_values(m)[1]), qos.STREAM_PUB)
    node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, lambda m: diag.extend(
        (s.level[0] if isinstance(s.level, bytes) else s.level, s.message) for s in m.status
        if s.name == "safety_monitor: shield"), 10)
    pub_state = node.create_publisher(JointState, "/joint_states", 10)
    pub_command = node.create_publisher(Float64MultiArray, "/task_controller/commands", 10)
    env = make(ENV)
    env.reset(seed=0)
    joints = [*model_joint_names(ENV), "camera_pan"]
    qpos, qvel = [*env.unwrapped.data.qpos, 0.5], [*env.unwrapped.data.qvel, 0.0]
    shuffled = [4, 9, 0, 7, 2, 8, 1, 6, 3, 5]

    def send_state(drop: str = "") -> None:
        keep = [i for i in shuffled if joints[i] != drop]
        msg = JointState(name=[joints[i] for i in keep], position=[qpos[i] for i in keep],
                         velocity=[qvel[i] for i in keep])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub_state.publish(msg)

    def answer(command, state: bool = True, drop: str = "") -> np.ndarray:
        """Send (a state and) a command until the filter answers it; the answer in the controller's order."""
        seen = len(out)
        for _ in range(100):
            if state:
                send_state(drop)
                probe.spin_until(lambda: False, 0.02)
            pub_command.publish(Float64MultiArray(data=list(map(float, command))))
            if probe.spin_until(lambda: len(out) > seen, 0.3):
                return out[-1]
        raise AssertionError("the filter never answered the command")

    try:
        command = np.array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6])
        for _ in range(100):  # until the first joint state got through discovery (before: safe_action, correctly)
            answer(command)
            if risk:
                break
        np.testing.assert_array_equal(answer(command), command)  # eps_risk 1: passed through, in the same order
        assert probe.spin_until(lambda: risk and 0.0 <= risk[-1]["q_risk"] <= 1.0) and risk[-1]["overridden"] == 0.0
        result = probe.call(SetParameters, "/safety_monitor/set_parameters",
                            SetParameters.Request(parameters=[Parameter("eps_risk", value=0.0).to_parameter_msg()]))
        assert result.results[0].successful
        overridden = answer(command)
        assert not np.allclose(overridden, command) and np.abs(overridden).max() <= 1.0  # pi_rec(s), in the box
        assert probe.spin_until(lambda: risk[-1]["overridden"] == 1.0, 5.0)  # the risk topic says so (own delivery)

        np.testing.assert_array_equal(answer([0.1, np.nan, 0, 0, 0, 0]), np.zeros(6))  # NaN command: safe_action
        np.testing.assert_array_equal(answer(command[:5]), np.zeros(6))  # wrong length: safe_action
        np.testing.assert_array_equal(answer(command, drop="rooty"), np.zeros(6))  # unusable joint state
        assert probe.spin_until(lambda: any(level == 2 and "lacks ['rooty']" in text for level, text in diag), 5.0), (
            diag
        )
        answer(command)  # a full state again: filtering resumes
        time.sleep(0.5)  # no joint state for longer than max_state_age_s
        np.testing.assert_array_equal(answer(command, state=False), np.zeros(6))
        assert proc.poll() is None  # nothing crashed
    finally:
        probe.close()
        proc.terminate()
        log = proc.communicate(timeout=30)[0]
    assert "Traceback" not in log, log[-3000:]
    assert "command rejected, failing safe" in log and "joint state unusable, failing safe" in log
