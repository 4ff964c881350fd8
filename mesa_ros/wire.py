"""The graph's wire format, ROS-free: topic and service names, the fields of each message, stamps, parsing.

The nodes build their messages from these names (``mesa_ros.nodes.msgs``), the bag recorder records
``RECORDED`` and the bag converter (``core.bag_dataset``) parses with the functions here, which take
rclpy and rosbags messages alike (duck-typed on their fields).

* State: ``sensor_msgs/JointState`` with name/position/velocity of every joint and, in ``effort``, the
  torque its actuator applied during the last step, stamped on the sim clock.
* Actions: ``sensor_msgs/JointState`` with the actuator names in ``name`` and the action in ``effort``,
  stamped with the state they answer; the command to the simulator also carries the task policy's
  proposal it forwards or replaces in ``position`` (so a_task and a_exec stay paired).
* Named values (``Step``, ``Risk``, ``Episode``, ``Detection``, the fault state): ``sensor_msgs/JointState``
  used as a stamped named vector (``name[i]`` = ``position[i]``), the standard type that carries a header
  and float64 values exactly.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# -- topics ------------------------------------------------------------------------------------------
CLOCK = "/clock"
STATE = "/mujoco_sim/state"  # sensor_msgs/JointState: joint positions/velocities, stamped on the sim clock
#: STATE's ``frame_id`` on the last state of an episode: the simulator resets at once and wants no command for it
STATE_TERMINAL = "terminal"
STEP = "/mujoco_sim/step"  # named values: Step
EPISODE = "/mujoco_sim/episode"  # named values at each episode end: Episode
FAULT_STATE = "/mujoco_sim/fault_state"  # named values: power scale per actuator (ground truth, latched)
FAULT_EVENT = "/mujoco_sim/fault_event"  # std_msgs/Header: a fault changed (frame_id EVENT_FAULT or EVENT_CLEAR)
COMMAND = "/mujoco_sim/command"  # sensor_msgs/JointState effort: the command the simulator applies (a_exec)
TASK_ACTION = "/task_policy/action"  # sensor_msgs/JointState effort: the task policy's proposal (a_task)
RISK = "/safety_monitor/risk"  # named values: Risk
WEIGHTS = "/safety_monitor/weights"  # std_msgs/UInt8MultiArray: safetensors checkpoint (latched)
DIAGNOSTICS = "/diagnostics"
DETECTION = "/adaptation/detection"  # named values: Detection (latched)
#: std_msgs/Header: the stamp of the last transition the adaptation node has taken in (``Step.stamp``, -1: none yet),
#: published once it is done with it: not while phase 2 runs or weights it sent are not yet in use at the monitor
#: (frame_id ACK_RESYNC after such a wait). A lockstep simulator with ``lockstep_sync_adaptation`` waits for it.
ADAPTATION_ACK = "/adaptation/ack"
ACK_RESYNC = "resync"

#: ros2_control's conventions (``interface: ros2_control``): the robot's joint states, a task controller's commands.
JOINT_STATES = "/joint_states"  # sensor_msgs/JointState, joints by name
TASK_COMMANDS = "/task_controller/commands"  # std_msgs/Float64MultiArray, the command joints' order

#: FAULT_EVENT's ``frame_id``: some actuator lost power / every actuator has full power again.
EVENT_FAULT, EVENT_CLEAR = "fault", "clear"

#: What the bag recorder writes by default: everything needed to rebuild transitions, plus context.
RECORDED: dict[str, str] = {
    STATE: "sensor_msgs/msg/JointState",
    STEP: "sensor_msgs/msg/JointState",
    TASK_ACTION: "sensor_msgs/msg/JointState",
    COMMAND: "sensor_msgs/msg/JointState",
    RISK: "sensor_msgs/msg/JointState",
    EPISODE: "sensor_msgs/msg/JointState",
    FAULT_STATE: "sensor_msgs/msg/JointState",
    FAULT_EVENT: "std_msgs/msg/Header",
    DETECTION: "sensor_msgs/msg/JointState",
}

#: Topics each node of the graph subscribes to from start-up. The graph description turns this into the
#: ``wait_for_subscribers`` of the nodes that publish them (``mesa_ros.nodes.start_gate``); a test checks it
#: against the nodes' real subscriptions.
LISTENERS: dict[str, tuple[str, ...]] = {
    "mujoco_sim": (COMMAND, RISK),
    "task_policy": (STATE,),
    "safety_monitor": (STATE, TASK_ACTION, WEIGHTS),
    "adaptation": (STATE, COMMAND, STEP, FAULT_EVENT, RISK),
    "bag_recorder": tuple(RECORDED),
}
#: Nodes that hold back their first output until their listeners are matched, and the topics they gate on.
GATED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "mujoco_sim": (STATE, STEP, EPISODE, FAULT_STATE, FAULT_EVENT),
    "task_policy": (TASK_ACTION,),
    "safety_monitor": (COMMAND, RISK),
}

# -- services ----------------------------------------------------------------------------------------
SIMULATOR, SAFETY_MONITOR = "mujoco_sim", "safety_monitor"  # node names (defaults) whose services others call
PRIVATE = "~"  # as ``node``: a service name relative to the node that hosts it

#: Service names relative to the node that hosts them (``service(node, name)``), std_srvs types.
CLEAR_FAULTS = "faults/clear"  # mujoco_sim, Trigger: every actuator back to full power
RANDOM_FAULT = "faults/random"  # mujoco_sim, Trigger: a fault drawn from fault.distribution
ENABLE_SHIELD = "enable"  # safety_monitor, SetBool: the shield on / off
RELOAD_WEIGHTS = "reload"  # safety_monitor, Trigger: the weights of its checkpoint file again
FAULT_DETECTED = "fault_detected"  # adaptation, Trigger: a fault announced by hand
FAULT_CLEARED = "fault_cleared"  # adaptation, Trigger: the robot healthy again, announced by hand
_POWER_LOSS = re.compile(r".*/faults/([^/]+)/power_loss")


#: The simulator's fault parameters (``ros2 param set``; the fault client sets them in one atomic request).
POWER_SCALE = "fault.power_scale"  # double: power left on a joint faulted by a power_loss service
FAULT_JOINTS = "fault.joints"  # string[]: the joints faulted now; setting it injects exactly these faults
POWER_SCALES = "fault.power_scales"  # double[]: power left per entry of FAULT_JOINTS (a compound fault)
SCHEDULED_STEP = "fault.scheduled_step"  # int: control step at which SCHEDULED_JOINTS lose power (-1: none)
SCHEDULED_JOINTS = "fault.scheduled_joints"  # string[]
FAULT_DISTRIBUTION = "fault.distribution"  # "train" / "test": the distribution of RANDOM_FAULT
FAULT_PARTIAL = "fault.partial"  # bool: RANDOM_FAULT draws a partial loss


def service(node: str, name: str) -> str:
    """``/<node>/<name>``; ``~/<name>`` for ``node`` PRIVATE (the hosting node's own)."""
    return f"{PRIVATE if node == PRIVATE else '/' + node.strip('/')}/{name}"


def power_loss_service(node: str, joint: str) -> str:
    """The simulator's SetBool service of one actuated joint: true = it loses power (to fault.power_scale),
    false = full power back."""
    return service(node, f"faults/{joint}/power_loss")


def power_loss_joint(name: str) -> str | None:
    """The joint of a ``power_loss_service`` name (of any node); None for any other service."""
    match = _POWER_LOSS.fullmatch(name)
    return match.group(1) if match else None


# -- stamps ------------------------------------------------------------------------------------------
NS = 1_000_000_000


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (any object with ``sec`` and ``nanosec``)."""
    return int(stamp.sec) * NS + int(stamp.nanosec)


def stamp_parts(ns: int) -> tuple[int, int]:
    """(sec, nanosec) of a stamp in nanoseconds: the fields of a ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(ns), NS)
    return sec, nanosec


# -- fault state ------------------------------------------------------------------------------------
def faulted(power_scales: Mapping[str, float]) -> dict[str, float]:
    """The faulted actuators of a FAULT_STATE's values (power scale per actuator): those below full power."""
    return {name: scale for name, scale in power_scales.items() if scale < 1.0}


# -- parsing -----------------------------------------------------------------------------------------
def parse_state(msg: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """(stamp_ns, position, velocity) of a state message."""
    return (
        stamp_ns(msg.header.stamp),
        np.asarray(msg.position, dtype=np.float64),
        np.asarray(msg.velocity, dtype=np.float64),
    )


def parse_action(msg: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """(stamp_ns, action in ``effort``, proposal in ``position`` (empty if none)) of an action/command message."""
    return (stamp_ns(msg.header.stamp), np.asarray(msg.effort, dtype=np.float64),
            np.asarray(msg.position, dtype=np.float64))


def parse_values(msg: Any) -> tuple[int, dict[str, float]]:
    """(stamp_ns, {name: value}) of a named-values message."""
    return stamp_ns(msg.header.stamp), {n: float(v) for n, v in zip(msg.name, msg.position)}


# -- named values: the fields of each message ------------------------------------------------------------
STEP_FIELDS = ("reward", "cost", "terminated", "truncated", "episode", "step", "next_stamp_ns", "stale")
ACTION_PREFIX = "a_exec/"  # a Step's applied action: one ``a_exec/<actuator>`` entry per actuator
RISK_FIELDS = ("q_risk", "overridden", "eps_risk", "shield_enabled", "weights_version", "weights_id")
EPISODE_FIELDS = ("episode", "steps", "return", "violations", "ended_by_violation")
DETECTION_FIELDS = ("changed", "statistic", "threshold", "dimension")


def _named(names: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    return {name: float(value) for name, value in zip(names, values, strict=True)}


def _take(values: Mapping[str, float], names: Sequence[str], message: str) -> list[float]:
    """The entries ``names`` of a named-values message, in order; ``ValueError`` naming the missing ones."""
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"{message} message lacks {missing}")
    return [float(values[n]) for n in names]


@dataclass(frozen=True)
class Step:
    """STEP, stamped with the state the action was applied in: its outcome, the next state's stamp and the
    action applied (a_exec, by actuator in actuator order)."""

    reward: float
    cost: float
    terminated: bool
    truncated: bool
    episode: int
    step: int  # index of the step in its episode, from 0
    next_stamp_ns: int
    stale: bool  # realtime: no command answered the state in time; the safe action was applied
    action: dict[str, float]

    def to_values(self) -> dict[str, float]:
        return {**_named(STEP_FIELDS, (self.reward, self.cost, self.terminated, self.truncated, self.episode,
                                       self.step, self.next_stamp_ns, self.stale)),
                **{ACTION_PREFIX + name: float(a) for name, a in self.action.items()}}

    @classmethod
    def from_values(cls, values: Mapping[str, float]) -> Step:
        reward, cost, terminated, truncated, episode, step, next_stamp, stale = _take(values, STEP_FIELDS, "step")
        action = {k.removeprefix(ACTION_PREFIX): float(v) for k, v in values.items() if k.startswith(ACTION_PREFIX)}
        if not action:
            raise ValueError(f"step message lacks ['{ACTION_PREFIX}*']")
        return cls(reward, cost, bool(terminated), bool(truncated), int(episode), int(step), int(next_stamp),
                   bool(stale), action)


@dataclass(frozen=True)
class Risk:
    """RISK, stamped with the state decided on: the safety monitor's decision on its task action."""

    q_risk: float  # Q_risk(s, a_task); NaN without a critic
    overridden: bool  # a_exec = pi_rec(s) instead of a_task
    eps_risk: float
    shield_enabled: bool
    weights_version: int  # weights installed since start-up
    weights_id: int  # the sender's id of the weights in use (the adaptation node's); 0 = from a file

    def to_values(self) -> dict[str, float]:
        return _named(RISK_FIELDS, (self.q_risk, self.overridden, self.eps_risk, self.shield_enabled,
                                    self.weights_version, self.weights_id))

    @classmethod
    def from_values(cls, values: Mapping[str, float]) -> Risk:
        q_risk, overridden, eps_risk, enabled, version, weights_id = _take(values, RISK_FIELDS, "risk")
        return cls(q_risk, bool(overridden), eps_risk, bool(enabled), int(version), int(weights_id))


@dataclass(frozen=True)
class Episode:
    """EPISODE, stamped with the episode's last state: the totals of the episode that ended there."""

    episode: int
    steps: int
    episode_return: float  # ``return`` on the wire
    violations: int
    ended_by_violation: bool  # else by the horizon

    def to_values(self) -> dict[str, float]:
        return _named(EPISODE_FIELDS, (self.episode, self.steps, self.episode_return, self.violations,
                                       self.ended_by_violation))


@dataclass(frozen=True)
class Detection:
    """DETECTION, stamped with the state of the transition that decided it: the change detector's decision."""

    changed: bool  # the dynamics changed (a fault); False: healthy again
    statistic: float  # the CUSUM statistic that crossed
    threshold: float
    dimension: int  # the observation dimension that decided

    def to_values(self) -> dict[str, float]:
        return _named(DETECTION_FIELDS, (self.changed, self.statistic, self.threshold, self.dimension))
