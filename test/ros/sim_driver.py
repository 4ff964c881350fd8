"""A stand-in for task policy + monitor in front of a bare ``mujoco_sim`` process (tests of its interfaces)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from mesa_ros import wire
from mesa_ros.nodes import msgs, qos

from peer import Peer

COMMAND = np.array([0.5, -0.4, 0.3, -0.6, 0.7, 0.8])
GEARS = np.array([120, 90, 60, 120, 60, 30])


def actuated(effort: np.ndarray) -> np.ndarray:
    return effort[3:]  # joints rootx, rootz, rooty carry no actuator


class Driver(Peer):
    """Plays task policy + monitor for a bare simulator: answers every state with COMMAND."""

    def __init__(self, ros_env: dict[str, str], *sim_args: str) -> None:
        self.sim = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args",
                                     "-p", "lockstep_republish_s:=0.2", *sim_args], env=ros_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        super().__init__("fault_test_driver")
        self.pub = self.node.create_publisher(JointState, wire.COMMAND, qos.STREAM_PUB)
        self.efforts: list[np.ndarray] = []
        self.stamps: list[int] = []
        self.last_stamp = -1
        self.fault_state: dict[str, float] = {}
        self.node.create_subscription(JointState, wire.STATE, self._on_state, qos.LOGGER_SUB)
        self.node.create_subscription(JointState, wire.FAULT_STATE,
                                      lambda m: self.fault_state.update(wire.parse_values(m)[1]), qos.LATCHED)
        self.fault_events: list[str] = []  # frame_id of each fault event: "fault" or "clear"
        self.node.create_subscription(Header, wire.FAULT_EVENT, lambda m: self.fault_events.append(m.frame_id),
                                      qos.LATCHED)

    def _on_state(self, msg: JointState) -> None:
        stamp, _, _ = wire.parse_state(msg)
        if stamp != self.last_stamp:  # the simulator re-publishes a state while it waits: count each once
            self.last_stamp = stamp
            self.efforts.append(np.asarray(msg.effort))
            self.stamps.append(stamp)
        self.pub.publish(msgs.action_msg(stamp, ["a"] * 6, COMMAND))

    def spin_steps(self, n: int, timeout: float = 30.0) -> np.ndarray:
        """Let ``n`` more steps happen; returns the actuator torques of the last state (joint order)."""
        target, deadline = len(self.efforts) + n, time.monotonic() + timeout
        while len(self.efforts) < target and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
        assert len(self.efforts) >= target, "simulator stopped stepping"
        return self.efforts[-1]

    def set_param(self, name: str, value):
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return self.call(SetParameters, "/mujoco_sim/set_parameters", request).results[0]

    def close(self) -> str:
        super().close()
        self.sim.terminate()
        out, _ = self.sim.communicate(timeout=20)
        return out


def assert_replays(transitions, faults, env: str = "HalfCheetah-Disabled", seed: int = 0) -> None:
    """Replay the recorded executed actions in a fresh simulator with the same seed and the recorded fault times:
    every state, reward, cost and end flag must match bit for bit."""
    from mesa_ros.envs.session import SimSession

    sim, pending = SimSession(env, seed=seed, max_episode_steps=1000), list(faults)
    for t in transitions:
        while pending and pending[0][0] <= sim.state.stamp_ns:
            sim.robot.set_task({"power_scale": pending.pop(0)[1]})
        assert sim.state.stamp_ns == t.stamp_ns
        np.testing.assert_array_equal(sim.observation(sim.state), t.s)
        out = sim.step(t.a_exec)
        np.testing.assert_array_equal(sim.observation(out.next_state), t.s_next)
        assert (out.reward, out.cost, out.terminated, out.truncated) == (t.r, t.c, t.terminated, t.truncated)
