"""Client side of the simulator's fault interface (used by ``mesa-ros fault``, the demo and tests)."""
from __future__ import annotations

import math
import time

import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import SetBool, Trigger


def fault_joints(client_node, node: str, timeout: float, wanted: str) -> list[str]:
    """Joints with a ``/<node>/faults/<joint>/power_loss`` service, as discovered on the graph: returns as
    soon as ``wanted`` is among them, else once the discovered set has been stable for a second."""
    prefix, suffix = f"/{node}/faults/", "/power_loss"
    deadline, stable_since, last = time.monotonic() + timeout, time.monotonic(), None
    while True:
        names = [n for n, _ in client_node.get_service_names_and_types()]
        joints = sorted(n[len(prefix):-len(suffix)] for n in names if n.startswith(prefix) and n.endswith(suffix))
        now = time.monotonic()
        if joints != last:
            last, stable_since = joints, now
        if wanted in joints or now > deadline or (joints and now - stable_since > 1.0):
            return joints
        time.sleep(0.05)


def call_fault_service(target: str, power_scale: float | None = None, restore: bool = False,
                       node: str = "mujoco_sim", timeout: float = 10.0) -> tuple[bool, str]:
    """Call ``/<node>/faults/...`` like ``ros2 service call`` would; returns (success, message)."""
    if power_scale is not None and (math.isnan(power_scale) or not 0.0 <= power_scale <= 1.0):
        return False, f"power scale must be in [0, 1], got {power_scale}"
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        client_node = rclpy.create_node("mesa_ros_fault_cli", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(client_node)

        def call(srv_type, name: str, request):
            client = client_node.create_client(srv_type, name)
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available after {timeout:g} s (is {node} running?)")
            future = client.call_async(request)
            executor.spin_until_future_complete(future, timeout_sec=timeout)
            if not future.done():
                raise TimeoutError(f"service {name} did not answer within {timeout:g} s")
            return future.result()

        if target in ("clear", "random"):
            result = call(Trigger, f"/{node}/faults/{target}", Trigger.Request())
            return result.success, result.message
        joints = fault_joints(client_node, node, timeout, target)
        if target not in joints:
            return False, f"unknown joint {target!r}; {node} offers {joints} (or 'clear', 'random')"
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
