"""mujoco_sim's fault interface over DDS: services, parameters, the CLI twin; bad requests change nothing."""
from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger

from mesa_ros import topics
from mesa_ros.nodes import msgs, qos

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
COMMAND = np.array([0.5, -0.4, 0.3, -0.6, 0.7, 0.8])
GEARS = np.array([120, 90, 60, 120, 60, 30])


class Driver:
    """Plays task policy + monitor for a bare simulator: answers every state with COMMAND."""

    def __init__(self, ros_env: dict[str, str]) -> None:
        self.sim = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args",
                                     "-p", "lockstep_republish_s:=0.2"], env=ros_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fault_test_driver", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.pub = self.node.create_publisher(JointState, topics.COMMAND, qos.STREAM_PUB)
        self.efforts: list[np.ndarray] = []
        self.last_stamp = -1
        self.fault_state: dict[str, float] = {}
        self.node.create_subscription(JointState, topics.STATE, self._on_state, qos.LOGGER_SUB)
        self.node.create_subscription(JointState, topics.FAULT_STATE,
                                      lambda m: self.fault_state.update(msgs.parse_values(m)[1]), qos.LATCHED)

    def _on_state(self, msg: JointState) -> None:
        stamp, _, _ = msgs.parse_state(msg)
        if stamp != self.last_stamp:  # the simulator re-publishes a state while it waits: count each once
            self.last_stamp = stamp
            self.efforts.append(np.asarray(msg.effort))
        self.pub.publish(msgs.action_msg(stamp, ["a"] * 6, COMMAND))

    def spin_steps(self, n: int, timeout: float = 30.0) -> np.ndarray:
        """Let ``n`` more steps happen; returns the actuator torques of the last state (joint order)."""
        target, deadline = len(self.efforts) + n, time.monotonic() + timeout
        while len(self.efforts) < target and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
        assert len(self.efforts) >= target, "simulator stopped stepping"
        return self.efforts[-1]

    def call(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=20), name
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=10)
        return future.result()

    def set_param(self, name: str, value):
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return self.call(SetParameters, "/mujoco_sim/set_parameters", request).results[0]

    def close(self) -> str:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.sim.terminate()
        out, _ = self.sim.communicate(timeout=20)
        return out


@pytest.fixture(scope="module")
def driver(ros_env):
    d = Driver(ros_env)
    yield d
    log = d.close()
    assert "Traceback" not in log, log


def actuated(effort: np.ndarray) -> np.ndarray:
    return effort[3:]  # joints rootx, rootz, rooty carry no actuator


def test_valid_service_call_changes_the_applied_torque(driver: Driver) -> None:
    np.testing.assert_allclose(actuated(driver.spin_steps(3)), GEARS * COMMAND)
    result = driver.call(SetBool, "/mujoco_sim/faults/ffoot/power_loss", SetBool.Request(data=True))
    assert result.success and result.message == "ffoot power scale set to 0"
    torque = actuated(driver.spin_steps(3))
    assert torque[5] == 0.0 and np.allclose(torque[:5], (GEARS * COMMAND)[:5])
    assert driver.fault_state["ffoot"] == 0.0

    assert driver.set_param("fault.power_scale", 0.5).successful
    assert driver.call(SetBool, "/mujoco_sim/faults/bshin/power_loss", SetBool.Request(data=True)).success
    assert actuated(driver.spin_steps(3))[1] == pytest.approx(0.5 * GEARS[1] * COMMAND[1])

    cleared = driver.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request())
    assert cleared.success and cleared.message == "all faults cleared"
    np.testing.assert_allclose(actuated(driver.spin_steps(3)), GEARS * COMMAND)

    assert driver.set_param("fault.power_scale", 0.0).successful
    drawn = driver.call(Trigger, "/mujoco_sim/faults/random", Trigger.Request())
    assert drawn.success and "drew test fault {'ffoot': 0.0}" in drawn.message  # the paper's test distribution
    assert actuated(driver.spin_steps(3))[5] == 0.0
    assert driver.set_param("fault.joints", ["fthigh"]).successful  # exact set: ffoot healthy again
    torque = actuated(driver.spin_steps(3))
    assert torque[3] == 0.0 and torque[5] == pytest.approx(GEARS[5] * COMMAND[5])


@pytest.mark.parametrize(("name", "value", "message"), [
    ("fault.joints", ["tail"], "unknown actuator/joint 'tail'"),
    ("fault.joints", ["ffoot", "knee"], "unknown actuator/joint 'knee'"),
    ("fault.power_scale", 1.5, "fault.power_scale out of range"),
    ("fault.power_scale", -0.2, "fault.power_scale out of range"),
    ("fault.power_scale", math.nan, "fault.power_scale out of range"),
    ("fault.distribution", "val", "fault.distribution must be one of ['train', 'test']"),
    ("mode", "realtime", "read-only parameter: mode"),
])
def test_invalid_requests_are_rejected_and_change_nothing(driver: Driver, name: str, value, message: str) -> None:
    assert driver.set_param("fault.joints", ["bfoot"]).successful
    before = dict(driver.fault_state)
    result = driver.set_param(name, value)
    assert not result.successful and message in result.reason
    torque = actuated(driver.spin_steps(3))  # still stepping: nothing crashed
    assert torque[2] == 0.0 and np.count_nonzero(torque == 0.0) == 1
    assert driver.fault_state == before


def test_cli_injects_and_rejects(driver: Driver, ros_env) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(MESA_ROS), "fault", *args], env=ros_env, capture_output=True, text=True, timeout=60)

    assert driver.set_param("fault.joints", [""]).successful
    ok = cli("fshin", "--power-scale", "0.25")
    assert ok.returncode == 0 and "fshin power scale set to 0.25" in ok.stdout
    assert actuated(driver.spin_steps(3))[4] == pytest.approx(0.25 * GEARS[4] * COMMAND[4])
    unknown = cli("tail")
    assert unknown.returncode == 2 and "unknown joint 'tail'" in unknown.stdout
    bad = cli("ffoot", "--power-scale", "nan")
    assert bad.returncode == 2 and "power scale must be in [0, 1], got nan" in bad.stdout
    assert actuated(driver.spin_steps(3))[5] != 0.0  # the rejected calls changed nothing
    assert cli("clear").returncode == 0
