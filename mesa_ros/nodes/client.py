"""Client side of the simulator's fault interface (used by ``mesa-ros fault``, the demo and tests)."""
from __future__ import annotations

from collections.abc import Sequence

import rclpy
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import SetBool, Trigger

from mesa_ros.envs.faults import check_power_scale


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


def fault_joints(client_node, node: str = "mujoco_sim") -> list[str]:
    """Joints whose ``<node>/faults/<joint>/power_loss`` service ``node`` itself serves (for error messages; a
    client's name, such as this tool's own for an unknown joint, is not an offer)."""
    namespace, _, name = f"/{node.strip('/')}".rpartition("/")
    try:
        names = [n for n, _ in client_node.get_service_names_and_types_by_node(name, namespace or "/")]
    except rclpy.node.NodeNameNonExistentError:
        return []
    return sorted(n.split("/faults/")[1].removesuffix("/power_loss") for n in names if n.endswith("/power_loss"))


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
                       node: str = "mujoco_sim", timeout: float = 10.0) -> tuple[bool, str]:
    """Call ``/<node>/faults/...`` like ``ros2 service call`` would; returns (success, message). Several targets
    (``JOINT:SCALE`` each) set ``fault.joints`` and ``fault.power_scales`` in one atomic request: a compound fault."""
    compound = None
    try:
        if power_scale is not None:
            check_power_scale("fault.power_scale", power_scale)
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
            params = [Parameter("fault.joints", value=[j for j, _ in compound]).to_parameter_msg(),
                      Parameter("fault.power_scales", value=[k for _, k in compound]).to_parameter_msg()]
            answer = call(SetParametersAtomically, f"/{node}/set_parameters_atomically",
                          SetParametersAtomically.Request(parameters=params))
            if not answer.result.successful:
                return False, answer.result.reason
            return True, "compound fault set: " + ", ".join(f"{j} power scale {k:g}" for j, k in compound)
        if target in ("clear", "random"):
            result = call(Trigger, f"/{node}/faults/{target}", Trigger.Request(), idempotent=target == "clear")
            return result.success, result.message
        if not client_node.create_client(SetBool, f"/{node}/faults/{target}/power_loss").wait_for_service(
                timeout_sec=min(timeout, 5.0)):
            if not client_node.create_client(Trigger, f"/{node}/faults/clear").wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"{node} is not running (no /{node}/faults/clear after {timeout:g} s)")
            return False, f"unknown joint {target!r}; {node} offers {fault_joints(client_node, node)} (or 'clear', 'random')"
        if power_scale is not None and not restore:
            param = Parameter("fault.power_scale", value=float(power_scale)).to_parameter_msg()
            answer = call(SetParameters, f"/{node}/set_parameters", SetParameters.Request(parameters=[param]))
            if not answer.results[0].successful:
                return False, answer.results[0].reason
        result = call(SetBool, f"/{node}/faults/{target}/power_loss", SetBool.Request(data=not restore))
        return result.success, result.message
    except TimeoutError as exc:
        return False, str(exc)
    finally:
        rclpy.try_shutdown(context=context)
