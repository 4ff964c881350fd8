"""safety_monitor under bad input (weights, actions, reload) and mujoco_sim's realtime mode, over DDS."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.envs.session import SimSession
from mesa_ros.nodes import msgs, qos

from peer import Peer


@pytest.fixture
def monitor(checkpoints, ros_env):
    proc = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.safety_monitor", "--ros-args",
                             "-p", f"checkpoint:={checkpoints['adapted']}", "-p", "enabled:=true",
                             "-p", "eps_risk:=0.0"], env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    probe = Peer("monitor_probe")
    yield probe, proc
    probe.close()
    proc.terminate()
    log, _ = proc.communicate(timeout=20)
    assert "Traceback" not in log, log


def test_monitor_rejects_bad_weights_actions_and_reloads(monitor, tmp_path) -> None:
    probe, _ = monitor
    node = probe.node
    pub_state = node.create_publisher(JointState, wire.STATE, qos.STREAM_PUB)
    pub_action = node.create_publisher(JointState, wire.TASK_ACTION, qos.STREAM_PUB)
    pub_weights = node.create_publisher(UInt8MultiArray, wire.WEIGHTS, qos.LATCHED)
    commands: dict[int, JointState] = {}
    sent: list[JointState] = []  # every command
    risks: list[int] = []  # the stamp of each decision
    diagnostics: list[dict[str, str]] = []

    def on_command(m: JointState) -> None:
        commands.setdefault(wire.stamp_ns(m.header.stamp), m)
        sent.append(m)

    node.create_subscription(JointState, wire.COMMAND, on_command, qos.LOGGER_SUB)
    node.create_subscription(JointState, wire.RISK, lambda m: risks.append(wire.stamp_ns(m.header.stamp)),
                             qos.LOGGER_SUB)
    node.create_subscription(
        DiagnosticArray,
        wire.DIAGNOSTICS,
        lambda m: diagnostics.extend(
            {"message": s.message, **{kv.key: kv.value for kv in s.values}}
            for s in m.status
            if s.name == "safety_monitor: shield"
        ),
        10,
    )
    sim = SimSession("HalfCheetah-Disabled", seed=0)

    def decide(a_task, stamp: int) -> JointState | None:
        state = sim.state
        pub_state.publish(msgs.state_msg(stamp, sim.joint_names, state.position, state.velocity, state.effort))
        pub_action.publish(msgs.action_msg(stamp, sim.actuator_names, np.asarray(a_task, dtype=np.float64)))
        probe.spin_until(lambda: stamp in commands, timeout=5)
        return commands.get(stamp)

    # both inputs matched (the monitor subscribes one after the other): a state sent earlier would be lost
    assert probe.spin_until(lambda: node.count_subscribers(wire.TASK_ACTION) > 0
                            and node.count_subscribers(wire.STATE) > 0)
    a_task = np.full(6, 0.3)
    first = decide(a_task, 1)
    assert first is not None and list(first.position) == list(a_task)
    assert list(first.effort) != list(a_task)  # eps_risk 0: every action is overridden by pi_rec
    # the state re-published (as the lockstep simulator does when its command is late), with another task action:
    # the same command again, not a new decision
    state = sim.state
    pub_state.publish(msgs.state_msg(1, sim.joint_names, state.position, state.velocity, state.effort))
    pub_action.publish(msgs.action_msg(1, sim.actuator_names, np.full(6, -0.5)))
    assert probe.spin_until(lambda: len(sent) == 2, timeout=5), len(sent)
    assert (list(sent[1].position), list(sent[1].effort)) == (list(first.position), list(first.effort))
    probe.spin_until(lambda: len(risks) > 1, timeout=0.5)  # no second decision comes
    assert risks == [1]
    assert decide([0.1, np.nan, 0, 0, 0, 0], 2) is None  # a NaN task action gets no command
    assert decide(np.zeros(5), 3) is None  # nor does a wrong-shaped one

    wrong = checkpoint.to_bytes({"critic": SafetyCritic(5, 6)}, "HalfCheetah-Disabled", 17, 6)
    pub_weights.publish(UInt8MultiArray(data=wrong))
    assert probe.spin_until(lambda: any("has shape" in d["message"] for d in diagnostics), timeout=10)
    error = next(d for d in diagnostics if "has shape" in d["message"])
    assert error["weights_version"] == "1" and "in the checkpoint but" in error["message"]
    pub_weights.publish(UInt8MultiArray(data=b"\x00" * 64))
    assert probe.spin_until(lambda: any("not a valid safetensors" in d["message"] for d in diagnostics), timeout=10)
    assert decide(a_task, 4) is not None  # still deciding with the old weights

    for name, value, reason in (("decision_budget_ms", -5.0, "decision_budget_ms out of range"),
                                ("decision_budget_ms", 20.0, ""), ("risk_budget", 2.0, "risk_budget out of range"),
                                ("risk_budget", -0.5, "risk_budget must be -1 or in [0, 1]"),
                                ("risk_budget", 0.01, "")):
        params = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        result = probe.call(SetParameters, "/safety_monitor/set_parameters", params).results[0]
        assert result.successful == (not reason) and reason in result.reason, result.reason
    # risk_budget 0.01 gave the critic a warning governor: every step a warning at eps_risk 0, but c is still 1 in
    # the governor's first window and pi_rec never overrides: a_task as it came
    decided = decide(a_task, 6)
    assert decided is not None and list(decided.effort) == list(a_task)
    params = SetParameters.Request(parameters=[Parameter("risk_budget", value=0.0).to_parameter_msg()])
    assert probe.call(SetParameters, "/safety_monitor/set_parameters", params).results[0].successful
    decided = decide(a_task, 7)  # no governor: the paper's rule, pi_rec's override at eps_risk 0
    assert decided is not None and list(decided.effort) != list(a_task)

    missing = str(tmp_path / "missing.safetensors")
    params = SetParameters.Request(parameters=[Parameter("checkpoint", value=missing).to_parameter_msg()])
    assert probe.call(SetParameters, "/safety_monitor/set_parameters", params).results[0].successful
    reload = probe.call(Trigger, "/safety_monitor/reload", Trigger.Request())
    assert not reload.success and "does not exist" in reload.message and "keeping v1" in reload.message
    off = probe.call(SetBool, "/safety_monitor/enable", SetBool.Request(data=False))
    assert off.success and off.message.startswith("shield disabled")
    sent.clear()  # the state decided last, re-published once the shield is off: decided anew, a pass-through now
    pub_state.publish(msgs.state_msg(7, sim.joint_names, state.position, state.velocity, state.effort))
    pub_action.publish(msgs.action_msg(7, sim.actuator_names, a_task))
    assert probe.spin_until(lambda: len(sent) == 1 and risks.count(7) == 2, timeout=5), (len(sent), risks)
    assert list(sent[0].effort) == list(a_task)
    passed = decide(a_task, 5)
    assert list(passed.effort) == list(a_task)  # disabled: a pass-through


def test_realtime_mode_applies_the_safe_default_and_counts_stale_commands(ros_env) -> None:
    probe = Peer("realtime_probe")  # listening before the simulator starts
    steps: list[dict[str, float]] = []
    probe.node.create_subscription(JointState, wire.STEP, lambda m: steps.append(wire.parse_values(m)[1]),
                                   qos.LOGGER_SUB)
    proc = subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.mujoco_sim", "--ros-args",
                             "-p", "mode:=realtime", "-p", "rate_hz:=100.0", "-p", "max_steps:=800"], env=ros_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def set_safe_action(value) -> SetParametersResult:
        request = SetParameters.Request(parameters=[Parameter("safe_action", value=value).to_parameter_msg()])
        return probe.call(SetParameters, "/mujoco_sim/set_parameters", request).results[0]
    try:
        assert probe.spin_until(lambda: len(steps) >= 50, timeout=60)  # nobody commands: it runs anyway
        for bad, reason in (([0.1] * 5, "safe_action: action has shape (5,), expected (6,)"),
                            ([0.1] * 5 + [math.nan], "safe_action: action contains NaN or inf at index [5]"),
                            ([0.1] * 5 + [5.0], "outside the action bounds [-1, 1]")):
            result = set_safe_action(bad)
            assert not result.successful and reason in result.reason, result.reason
        changed_at = len(steps)
        assert set_safe_action([0.5] * 6).successful
        assert probe.spin_until(lambda: proc.poll() is not None, timeout=60)
        probe.spin_until(lambda: len(steps) >= 800, timeout=2)
    finally:
        probe.close()
    assert proc.returncode == 0
    assert len(steps) >= 200 and all(s["stale"] == 1.0 for s in steps)
    assert all(s[f"a_exec/{j}"] == 0.0 for s in steps[:changed_at] for j in ("bthigh", "ffoot"))  # default: zeros
    assert all(s[f"a_exec/{j}"] == 0.5 for s in steps[-50:] for j in ("bthigh", "ffoot"))  # the runtime change
