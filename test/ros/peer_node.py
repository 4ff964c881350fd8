"""A second ROS 2 process for the smoke test: publishes /smoke/chatter and serves /smoke/set_flag."""
from __future__ import annotations

import sys

import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool


class Peer(Node):
    def __init__(self) -> None:
        super().__init__("smoke_peer")
        self.flag = False
        self.pub = self.create_publisher(String, "/smoke/chatter", 10)
        self.create_service(SetBool, "/smoke/set_flag", self.on_set_flag)
        self.create_timer(0.05, self.tick)

    def tick(self) -> None:
        self.pub.publish(String(data=f"hello flag={self.flag}"))

    def on_set_flag(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.flag = request.data
        response.success, response.message = True, f"flag set to {self.flag}"
        return response


def main() -> None:
    rclpy.init(args=sys.argv)
    node = Peer()
    print("peer ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
