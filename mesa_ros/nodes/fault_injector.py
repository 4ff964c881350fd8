"""``fault_injector``: plays a fault scenario by calling the simulator's fault service at a given step.

Exactly what a user does by hand with ``ros2 service call /mujoco_sim/faults/<joint>/power_loss
std_srvs/srv/SetBool "{data: true}"``, at control step ``at_step`` (counted from the step topic).
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool

from mesa_ros import topics
from mesa_ros.nodes import qos
from mesa_ros.nodes.params import declare
from mesa_ros.nodes.runner import run_node


class FaultInjectorNode(Node):
    def __init__(self) -> None:
        super().__init__("fault_injector")
        self.joint = declare(self, "joint", "ffoot", "joint whose power_loss service is called", read_only=True)
        self.at_step = declare(self, "at_step", 1000, "control step at which the fault is injected", low=0, high=10**9,
                               read_only=True)
        sim = declare(self, "simulator", "mujoco_sim", "name of the simulator node", read_only=True)
        self.client = self.create_client(SetBool, f"/{sim}/faults/{self.joint}/power_loss")
        self.steps = 0
        self.future = None
        self.create_subscription(JointState, topics.STEP, self._on_step, qos.LOGGER_SUB)

    def _on_step(self, _msg: JointState) -> None:
        self.steps += 1
        if self.future is None and self.steps >= self.at_step:
            if not self.client.service_is_ready():
                self.get_logger().warning(f"{self.client.srv_name} not available yet at step {self.steps}")
                return
            self.future = self.client.call_async(SetBool.Request(data=True))
            self.future.add_done_callback(self._on_result)

    def _on_result(self, future) -> None:
        result = future.result()
        log = self.get_logger().info if result.success else self.get_logger().error
        log(f"step {self.steps}: {self.client.srv_name} -> success={result.success} ({result.message})")


def main(args: list[str] | None = None) -> int:
    return run_node(FaultInjectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
