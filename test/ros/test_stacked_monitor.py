"""The safety monitor with a stacked lookahead (``lookahead_checkpoint``) under bad input, over DDS: a start-up pair
that is not a critic and a lookahead is refused with one clear line; weights that would leave the enabled stack
without a recovery policy are rejected, keeping the version in use; a lookahead's weights replace that part, and
~/reload brings both files back."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_msgs.msg import UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.envs.session import SimSession
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.defaults import default_checkpoint

from peer import Peer

LOOKAHEAD = default_checkpoint("HalfCheetah-Disabled", "lookahead")


def start_monitor(ros_env: dict[str, str], *params: str) -> subprocess.Popen:
    """A safety monitor with these ``name:=value`` parameters, its output captured."""
    args = [a for p in params for a in ("-p", p)]
    return subprocess.Popen([sys.executable, "-m", "mesa_ros.nodes.safety_monitor", "--ros-args", *args],
                            env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen) -> str:
    """Stop the monitor; its log."""
    proc.terminate()
    return proc.communicate(timeout=20)[0]


def shield_statuses(probe: Peer) -> list[dict[str, str]]:
    """The monitor's "shield" diagnostics as they arrive: the message and the values of each."""
    seen: list[dict[str, str]] = []
    probe.node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, lambda m: seen.extend(
        {"message": s.message, **{kv.key: kv.value for kv in s.values}}
        for s in m.status if s.name == "safety_monitor: shield"), 10)
    return seen


def test_a_stacked_monitor_needs_a_critic_and_a_lookahead(checkpoints, ros_env) -> None:
    result = subprocess.run([sys.executable, "-m", "mesa_ros.nodes.safety_monitor", "--ros-args",
                             "-p", f"checkpoint:={checkpoints['adapted']}",
                             "-p", f"lookahead_checkpoint:={checkpoints['adapted']}"],
                            env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "a stacked monitor needs a critic and a lookahead checkpoint, got ['critic']" in result.stderr


def test_stacked_monitor_rejects_weights_without_recovery_and_swaps_each_part(checkpoints, ros_env) -> None:
    proc = start_monitor(ros_env, f"checkpoint:={checkpoints['adapted']}", f"lookahead_checkpoint:={LOOKAHEAD}",
                         "enabled:=true")
    probe = Peer("stacked_probe")
    try:
        node = probe.node
        pub_state = node.create_publisher(JointState, wire.STATE, qos.STREAM_PUB)
        pub_action = node.create_publisher(JointState, wire.TASK_ACTION, qos.STREAM_PUB)
        pub_weights = node.create_publisher(UInt8MultiArray, wire.WEIGHTS, qos.WEIGHTS)
        risks: dict[int, wire.Risk] = {}
        node.create_subscription(JointState, wire.RISK, lambda m: risks.update(
            {wire.stamp_ns(m.header.stamp): wire.Risk.from_values(wire.parse_values(m)[1])}), qos.LOGGER_SUB)
        shield = shield_statuses(probe)
        sim = SimSession("HalfCheetah-Disabled", seed=0)

        def decide(stamp: int) -> wire.Risk | None:
            state = sim.state
            pub_state.publish(msgs.state_msg(stamp, sim.joint_names, state.position, state.velocity, state.effort))
            pub_action.publish(msgs.action_msg(stamp, sim.actuator_names, np.full(6, 0.3)))
            probe.spin_until(lambda: stamp in risks, timeout=10)
            return risks.get(stamp)

        assert probe.spin_until(lambda: node.count_subscribers(wire.TASK_ACTION) > 0
                                and node.count_subscribers(wire.STATE) > 0, timeout=30)
        first = decide(1)
        assert first is not None and first.shield_enabled and first.weights_version == 1
        assert first.eps_risk == 0.2  # the lookahead's threshold: the stack publishes its risk

        pub_weights.publish(UInt8MultiArray(data=checkpoints["safety"].read_bytes()))  # a critic without pi_rec
        assert probe.spin_until(lambda: any("have no recovery policy; disable the shield first" in d["message"]
                                            for d in shield), timeout=10), shield[-1:]
        assert decide(2).weights_version == 1  # still the stack from the files

        pub_weights.publish(UInt8MultiArray(data=LOOKAHEAD.read_bytes()))  # the lookahead part, anew
        assert probe.spin_until(lambda: any(d["weights_version"] == "2" for d in shield), timeout=10)
        assert decide(3).weights_version == 2
        reload = probe.call(Trigger, "/safety_monitor/reload", Trigger.Request())
        assert reload.success and "v3" in reload.message and str(LOOKAHEAD) in reload.message, reload.message
    finally:
        probe.close()
        log = stop(proc)
    assert "Traceback" not in log, log
    assert "weights rejected, keeping v1: these weights have no recovery policy" in log


def test_a_stacked_monitor_with_a_critic_only_checkpoint_waits_for_weights_with_a_recovery_policy(checkpoints,
                                                                                                ros_env) -> None:
    proc = start_monitor(ros_env, f"checkpoint:={checkpoints['safety']}", f"lookahead_checkpoint:={LOOKAHEAD}")
    probe = Peer("stacked_critic_only_probe")
    try:
        refused = probe.call(SetBool, "/safety_monitor/enable", SetBool.Request(data=True))
        assert not refused.success and "no recovery policy loaded" in refused.message
        pub_weights = probe.node.create_publisher(UInt8MultiArray, wire.WEIGHTS, qos.WEIGHTS)
        pub_weights.publish(UInt8MultiArray(data=checkpoints["adapted"].read_bytes()))  # critic + pi_rec: the stack
        assert probe.spin_until(lambda: probe.call(SetBool, "/safety_monitor/enable",
                                                   SetBool.Request(data=True)).success, timeout=20)
    finally:
        probe.close()
        log = stop(proc)
    assert "Traceback" not in log and "fatal" not in log, log


def test_a_monitor_that_is_not_stacked_refuses_a_part_of_the_other_kind(checkpoints, ros_env) -> None:
    """A stacked adaptation node's model sent to a monitor without lookahead_checkpoint would replace its critic."""
    proc = start_monitor(ros_env, f"checkpoint:={checkpoints['adapted']}", "enabled:=true")
    probe = Peer("unstacked_probe")
    try:
        shield = shield_statuses(probe)
        pub_weights = probe.node.create_publisher(UInt8MultiArray, wire.WEIGHTS, qos.WEIGHTS)
        assert probe.spin_until(lambda: probe.node.count_subscribers(wire.WEIGHTS) > 0, timeout=30)
        pub_weights.publish(UInt8MultiArray(data=LOOKAHEAD.read_bytes()))
        assert probe.spin_until(lambda: any("would replace this monitor's critic" in d["message"] for d in shield),
                                timeout=20), shield[-1:]
        pub_weights.publish(UInt8MultiArray(data=checkpoints["adapted"].read_bytes()))  # a critic: installed
        assert probe.spin_until(lambda: any(d.get("weights_version") == "2" for d in shield), timeout=20), shield[-1:]
    finally:
        probe.close()
        log = stop(proc)
    assert "Traceback" not in log, log
    assert "weights rejected, keeping v1: a lookahead's weights would replace this monitor's critic" in log
