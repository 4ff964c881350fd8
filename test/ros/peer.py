"""The test side of a graph: one rclpy node in its own context, spun by hand, that calls services."""
from __future__ import annotations

import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

from mesa_ros.nodes.client import call_with_resend


def call_service(node, executor, srv_type, name: str, request, attempts: int = 3):
    """Call service ``name`` from ``node`` and wait for the answer (asserting that it is served). A request sent
    the moment the service is discovered can lose its reply while the reply reader is still matching (DDS
    discovery is per endpoint): it is sent again, up to ``attempts`` times (the services called here are
    idempotent)."""
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=20), name
    return call_with_resend(client, executor, request, (5.0,) * attempts)


class Peer:
    """A node ``name`` with its executor; subclasses add their subscriptions to ``self.node``."""

    def __init__(self, name: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate, timeout: float = 20.0) -> bool:
        """Spin until ``predicate()`` holds or ``timeout`` seconds passed; returns ``predicate()``."""
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def call(self, srv_type, name: str, request):
        """The answer of service ``name`` (asserted to come within the resend window)."""
        result = call_service(self.node, self.executor, srv_type, name, request)
        assert result is not None, f"{name} did not answer"
        return result

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
