"""``bag_recorder``: writes the graph's topics to rosbag2 bags with ``rosbags`` (no rosbag2 needed).

Messages are taken serialized (``raw=True``) and written as they came, split into complete bags every
``split_messages`` messages (``mesa_ros.core.bags``), zstd-compressed by default; SIGINT/SIGTERM close the
current split cleanly. Every split's ``metadata.yaml`` carries the recording's provenance in ``custom_data``
(``mesa_ros.provenance``: environment, task, checkpoints and their SHA-256, the node parameters, the package
version and git commit).
"""
from __future__ import annotations

import importlib
import time
from datetime import datetime
from pathlib import Path

from rclpy.node import Node

from mesa_ros import wire
from mesa_ros.core.bags import COMPRESSIONS, STORAGES, SplitBagWriter
from mesa_ros.nodes import qos
from mesa_ros.nodes.params import declare
from mesa_ros.nodes.runner import run_node
from mesa_ros.provenance import provenance

LATCHED_TOPICS = {wire.FAULT_STATE, wire.FAULT_EVENT, wire.WEIGHTS, wire.DETECTION}


def message_class(msgtype: str) -> type:
    """``sensor_msgs/msg/JointState`` -> the rclpy message class."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _pairs(items: list[str], name: str) -> list[tuple[str, str]]:
    """``["a=1", "b=x"]`` -> ``[("a", "1"), ("b", "x")]`` (empty entries skipped); a missing '=' is an error."""
    bad = [i for i in items if i and "=" not in i]
    if bad:
        raise ValueError(f"parameter {name}: entries must look like name=value, got {bad}")
    return [tuple(i.split("=", 1)) for i in items if i]


class BagRecorderNode(Node):
    """Records ``topics`` (default: everything needed to rebuild transitions) into split bags."""

    def __init__(self) -> None:
        super().__init__("bag_recorder")
        output = declare(self, "output", "", "recording directory (created; must not exist or be empty); "
                         "'' = bags/run_<date-time>", read_only=True)
        storage = declare(self, "storage", "mcap", "bag storage plugin", choices=tuple(STORAGES), read_only=True)
        split = declare(self, "split_messages", 4000, "close the current bag and start the next one after this "
                        "many messages (bounds what a crash can lose)", low=1, high=10**9, read_only=True)
        self.drain_seconds = declare(
            self,
            "drain_s",
            1.0,
            "after SIGINT/SIGTERM, keep recording until no message came for this long (at most 10x) before closing",
            low=0.0,
            high=60.0,
            read_only=True,
        )
        compression = declare(self, "compression", "zstd", "zstd: MCAP chunks (sqlite3: messages) compressed; none",
                              choices=COMPRESSIONS, read_only=True)
        described = {
            "env": declare(self, "provenance.env", "", "provenance: the environment", read_only=True),
            "task": dict(_pairs(declare(self, "provenance.task", [""], "provenance: the run's fault schedule and "
                                        "launch arguments, as name=value", read_only=True), "provenance.task")),
            "checkpoints": dict(_pairs(declare(self, "provenance.checkpoints", [""], "provenance: checkpoint files "
                                               "used, as kind=path (their SHA-256 is added)", read_only=True),
                                       "provenance.checkpoints")),
            "params_file": declare(self, "provenance.params_file", "", "provenance: the node parameter file (its "
                                   "content and SHA-256 are added)", read_only=True)}
        names = declare(self, "topics", list(wire.RECORDED), "topics to record (types as in mesa_ros.wire)",
                        read_only=True)
        unknown = [t for t in names if t not in wire.RECORDED]
        if unknown:
            raise ValueError(f"cannot record {unknown}: known topics are {sorted(wire.RECORDED)}")
        root = Path(output or f"bags/run_{datetime.now():%Y%m%d_%H%M%S}")
        self.received = 0
        self.writer = SplitBagWriter(root, {t: wire.RECORDED[t] for t in names}, storage, split, compression,
                                     provenance(described))
        for topic in names:
            profile = qos.LATCHED if topic in LATCHED_TOPICS else qos.LOGGER_SUB
            self.create_subscription(message_class(wire.RECORDED[topic]), topic,
                                     lambda data, t=topic: self._write(t, data), profile, raw=True)
        self.get_logger().info(f"recording {len(names)} topics to {root} ({storage}, {compression}, split every "
                               f"{split} messages)")

    def _write(self, topic: str, data: bytes) -> None:
        self.writer.write(topic, time.time_ns(), data)
        self.received += 1

    def close(self) -> None:
        self.writer.close()
        self.get_logger().info(f"closed {self.writer.root}: {self.writer.written} messages in "
                               f"{len(self.writer.splits)} split(s)")


def main(args: list[str] | None = None) -> int:
    return run_node(BagRecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
