"""rclpy messages of the graph, built from the wire format (``mesa_ros.wire``: names, stamps, parsing)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import JointState

from mesa_ros import wire


def to_stamp(ns: int) -> Time:
    sec, nanosec = wire.stamp_parts(ns)
    return Time(sec=sec, nanosec=nanosec)


def state_msg(stamp: int, names: Sequence[str], position: np.ndarray, velocity: np.ndarray,
              effort: np.ndarray, terminal: bool = False) -> JointState:
    """A state; ``terminal``: the episode's last (``frame_id`` ``wire.STATE_TERMINAL``: no command wanted)."""
    msg = JointState(name=list(names), position=position.tolist(), velocity=velocity.tolist(), effort=effort.tolist())
    msg.header.stamp = to_stamp(stamp)
    msg.header.frame_id = wire.STATE_TERMINAL if terminal else ""
    return msg


def action_msg(stamp: int, names: Sequence[str], action: np.ndarray, proposal: np.ndarray | None = None) -> JointState:
    """An action (``effort``); a command also carries the task action it forwards or replaces (``position``)."""
    msg = JointState(name=list(names), effort=np.asarray(action, dtype=np.float64).tolist())
    if proposal is not None:
        msg.position = np.asarray(proposal, dtype=np.float64).tolist()
    msg.header.stamp = to_stamp(stamp)
    return msg


def values_msg(stamp: int, values: Mapping[str, float]) -> JointState:
    """A named-values message: a ``wire.Step`` / ``Risk`` / ... ``to_values()``, or the fault state's power scales."""
    msg = JointState(name=list(values), position=[float(v) for v in values.values()])
    msg.header.stamp = to_stamp(stamp)
    return msg


def diagnostics(stamp: Time, name: str, hardware_id: str, level: int, message: str,
                values: Mapping[str, object]) -> DiagnosticArray:
    """A stamped ``/diagnostics`` array (the node's clock: sim time for the graph's nodes) with one status:
    ``name`` as ``node: task``, ``level`` one of ``core.health``'s OK / WARN / ERROR."""
    status = DiagnosticStatus(level=bytes([level]), name=name, hardware_id=hardware_id, message=message,
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
