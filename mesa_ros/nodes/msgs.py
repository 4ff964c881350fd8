"""Conversions between the graph's standard messages and numpy arrays (one place for every topic).

* State: ``sensor_msgs/JointState`` with name/position/velocity of every joint and, in ``effort``, the
  torque its actuator applied during the last step, stamped on the sim clock.
* Actions: ``sensor_msgs/JointState`` with the actuator names in ``name`` and the action in ``effort``,
  stamped with the state they answer; the command to the simulator also carries the task policy's
  proposal it forwards or replaces in ``position`` (so a_task and a_exec stay paired).
* Named values (step outcome, risk, episode statistics, fault state): ``sensor_msgs/JointState`` used as a
  stamped named vector (``name[i]`` = ``position[i]``), the standard type that carries a header and
  float64 values exactly.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import JointState

from mesa_ros.core.bag_dataset import NS, parse_action, parse_state, parse_values, stamp_ns  # noqa: F401  (re-exported)


def to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // NS), nanosec=int(ns % NS))


def state_msg(stamp: int, names: Sequence[str], position: np.ndarray, velocity: np.ndarray,
              effort: np.ndarray) -> JointState:
    msg = JointState(name=list(names), position=position.tolist(), velocity=velocity.tolist(), effort=effort.tolist())
    msg.header.stamp = to_stamp(stamp)
    return msg


def action_msg(stamp: int, names: Sequence[str], action: np.ndarray, proposal: np.ndarray | None = None) -> JointState:
    """An action (``effort``); a command also carries the task action it forwards or replaces (``position``)."""
    msg = JointState(name=list(names), effort=np.asarray(action, dtype=np.float64).tolist())
    if proposal is not None:
        msg.position = np.asarray(proposal, dtype=np.float64).tolist()
    msg.header.stamp = to_stamp(stamp)
    return msg


def values_msg(stamp: int, values: Mapping[str, float]) -> JointState:
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
