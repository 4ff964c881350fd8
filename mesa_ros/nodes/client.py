"""Client side of the simulator's fault interface (used by ``mesa-ros fault``, the demo and tests)."""
from __future__ import annotations

from collections.abc import Sequence

import rclpy
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.envs.faults import check_power_scale

#: The fault commands that are a simulator service of their own (``mesa-ros fault clear | random``).
FAULT_COMMANDS = {"clear": wire.CLEAR_FAULTS, "random": wire.RANDOM_FAULT}


def call_with_resend(client, executor, request, waits: Sequence[float]):
    """Send ``request`` and spin until its answer; after ``waits[i]`` seconds without one, send it again (a reply can
    be lost while DDS still matches a new client's reply reader). None if no attempt was answered. Only for
    idempotent requests when ``waits`` has more than one entry."""
    for wait in waits:
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=wait)
        if future.done():
            return future.result()
        client.remove_pending_request(future)
    return None


def fault_joints(client_node, node: str = wire.SIMULATOR) -> list[str]:
    """Joints whose ``wire.power_loss_service`` ``node`` itself serves (for error messages; a client's name, such
    as this tool's own for an unknown joint, is not an offer)."""
    namespace, _, name = f"/{node.strip('/')}".rpartition("/")
    try:
        names = [n for n, _ in client_node.get_service_names_and_types_by_node(name, namespace or "/")]
    except rclpy.node.NodeNameNonExistentError:
        return []
    return sorted(joint for n in names if (joint := wire.power_loss_joint(n)) is not None)


def parse_compound(targets: list[str]) -> list[tuple[str, float]]:
    """``["bshin:0.5", "fthigh:0"]`` -> ``[("bshin", 0.5), ("fthigh", 0.0)]``; ``ValueError`` naming a bad entry."""
    pairs = []
    for target in targets:
        joint, sep, value = target.partition(":")
        if not joint:
            raise ValueError(f"{target!r}: expected JOINT or JOINT:SCALE")
        pairs.append((joint, check_power_scale(joint, value) if sep else 0.0))
    return pairs


def call_fault_service(target: str | list[str], power_scale: float | None = None, restore: bool = False,
                       node: str = wire.SIMULATOR, timeout: float = 10.0) -> tuple[bool, str]:
    """Call the simulator's fault services (``mesa_ros.wire``) like ``ros2 service call`` would; returns (success,
    message). Several targets (``JOINT:SCALE`` each) set ``fault.joints`` and ``fault.power_scales`` in one atomic
    request: a compound fault."""
    compound = None
    try:
        if power_scale is not None:
            check_power_scale(wire.POWER_SCALE, power_scale)
        if isinstance(target, list):
            if len(target) == 1 and ":" not in target[0]:
                target = target[0]
            else:
                compound = parse_compound(target)
    except ValueError as exc:
        return False, str(exc)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        client_node = rclpy.create_node("mesa_ros_fault_cli", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(client_node)

        def call(srv_type, name: str, request, idempotent: bool = True):
            client = client_node.create_client(srv_type, name)
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available after {timeout:g} s (is {node} running?)")
            answer = call_with_resend(client, executor, request, (timeout / 2,) * 2 if idempotent else (timeout,))
            if answer is None:
                raise TimeoutError(f"service {name} did not answer within {timeout:g} s")
            return answer

        if compound is not None:
            params = [Parameter(wire.FAULT_JOINTS, value=[j for j, _ in compound]).to_parameter_msg(),
                      Parameter(wire.POWER_SCALES, value=[k for _, k in compound]).to_parameter_msg()]
            answer = call(SetParametersAtomically, wire.service(node, "set_parameters_atomically"),
                          SetParametersAtomically.Request(parameters=params))
            if not answer.result.successful:
                return False, answer.result.reason
            return True, "compound fault set: " + ", ".join(f"{j} power scale {k:g}" for j, k in compound)
        if target in FAULT_COMMANDS:
            result = call(Trigger, wire.service(node, FAULT_COMMANDS[target]), Trigger.Request(),
                          idempotent=target == "clear")
            return result.success, result.message
        power_loss = wire.power_loss_service(node, target)
        if not client_node.create_client(SetBool, power_loss).wait_for_service(timeout_sec=min(timeout, 5.0)):
            clear = wire.service(node, wire.CLEAR_FAULTS)
            if not client_node.create_client(Trigger, clear).wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"{node} is not running (no {clear} after {timeout:g} s)")
            commands = ", ".join(map(repr, FAULT_COMMANDS))
            return False, f"unknown joint {target!r}; {node} offers {fault_joints(client_node, node)} (or {commands})"
        if power_scale is not None and not restore:
            param = Parameter(wire.POWER_SCALE, value=float(power_scale)).to_parameter_msg()
            answer = call(SetParameters, wire.service(node, "set_parameters"),
                          SetParameters.Request(parameters=[param]))
            if not answer.results[0].successful:
                return False, answer.results[0].reason
        result = call(SetBool, power_loss, SetBool.Request(data=not restore))
        return result.success, result.message
    except TimeoutError as exc:
        return False, str(exc)
    finally:
        rclpy.try_shutdown(context=context)
