"""ROS 2 install smoke test: a topic and a service between two processes over real DDS (Fast DDS)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String
from std_srvs.srv import SetBool

PEER = Path(__file__).with_name("peer_node.py")


def test_topic_and_service_across_processes(ros_env: dict[str, str]) -> None:
    peer = subprocess.Popen([sys.executable, str(PEER)], env=ros_env, stdout=subprocess.PIPE, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        assert peer.stdout.readline().strip() == "peer ready"
        node = rclpy.create_node("smoke_client", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received: list[str] = []
        node.create_subscription(String, "/smoke/chatter", lambda m: received.append(m.data), 10)
        client = node.create_client(SetBool, "/smoke/set_flag")

        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert received and received[-1] == "hello flag=False"

        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(SetBool.Request(data=True))
        executor.spin_until_future_complete(future, timeout_sec=10)
        assert future.result().success and future.result().message == "flag set to True"

        deadline = time.monotonic() + 10
        while received[-1] != "hello flag=True" and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert received[-1] == "hello flag=True"  # the other process's state changed through the service
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        peer.terminate()
        peer.wait(timeout=10)
