"""Start gate: a node takes its first input only once the named subscribers hear its outputs.

A reliable, volatile publisher drops what it sends before a subscriber is matched, so a bag recorder
or a logger that connects after the graph has started misses the start. A node with
``wait_for_subscribers`` (entries ``<node>:<topic>``, filled in by the graph description) therefore
holds back: the simulator publishes its first state, the task policy and the safety monitor create
their input subscriptions, only when every named node is a subscriber of the named topic in the ROS
graph and the publisher is matched to every subscriber the graph shows on that topic. Because the
answering nodes subscribe to their inputs only after their own gate opened, the simulator's gate
(waiting for them on its state topic) opens only when the whole chain is heard: a general mechanism,
bounded by ``wait_for_subscribers_s`` with an error naming what never came.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from mesa_ros.nodes.params import declare

POLL_S = 0.02


def parse_waits(entries: Iterable[str]) -> dict[str, set[str]]:
    """``["bag_recorder:/mujoco_sim/state", ...]`` -> ``{"/mujoco_sim/state": {"bag_recorder"}}`` ('' ignored)."""
    waits: dict[str, set[str]] = {}
    for entry in entries:
        if not entry:
            continue
        node, sep, topic = entry.partition(":")
        if not sep or not node or not topic.startswith("/"):
            raise ValueError(f"wait_for_subscribers entry {entry!r} must read <node>:/<topic>")
        waits.setdefault(topic, set()).add(node)
    return waits


def missing_subscribers(waits: dict[str, set[str]], present: dict[str, set[str]], matched: dict[str, int],
                        discovered: dict[str, int]) -> list[str]:
    """What keeps a gate closed: named nodes not (yet) subscribed, or subscriptions not yet matched.

    ``present``: topic -> node names subscribed in the ROS graph; ``discovered``: topic -> number of those
    subscriptions; ``matched``: topic -> subscriptions the publisher is matched to.
    """
    missing = []
    for topic, nodes in sorted(waits.items()):
        absent = sorted(nodes - present.get(topic, set()))
        if absent:
            missing.append(f"{', '.join(absent)} on {topic}")
        elif matched.get(topic, 0) < discovered.get(topic, 0):
            missing.append(f"{matched.get(topic, 0)} of {discovered[topic]} subscriptions matched on {topic}")
    return missing


class StartGate:
    """Calls ``on_open`` once (from the executor) when the node's named subscribers are matched."""

    def __init__(self, node: Node, on_open: Callable[[], None]) -> None:
        entries = declare(node, "wait_for_subscribers", [""], "before the first input, wait until each "
                          "<node>:<topic> subscriber is matched to this node's publisher ([''] : start at once)",
                          read_only=True)
        self.timeout_s = declare(node, "wait_for_subscribers_s", 120.0, "give up (node error) when the awaited "
                                 "subscribers are not matched after this many seconds", low=0.1, high=3600.0,
                                 read_only=True)
        self.waits = parse_waits(entries)
        publishers = {p.topic_name: p for p in node.publishers}
        unknown = sorted(set(self.waits) - set(publishers))
        if unknown:
            raise ValueError(f"wait_for_subscribers names {unknown}, which {node.get_name()} does not publish "
                             f"(it publishes {sorted(publishers)})")
        self.node, self.on_open, self.publishers = node, on_open, publishers
        self.started = time.monotonic()
        if not self.waits:
            on_open()
        else:
            node.get_logger().info(f"waiting for subscribers: {self._describe(self.waits)}")
            self.timer = node.create_timer(POLL_S, self._poll, clock=Clock(clock_type=ClockType.STEADY_TIME))

    @staticmethod
    def _describe(waits: dict[str, set[str]]) -> str:
        return "; ".join(f"{topic} <- {', '.join(sorted(nodes))}" for topic, nodes in sorted(waits.items()))

    def missing(self) -> list[str]:
        present, discovered, matched = {}, {}, {}
        for topic in self.waits:
            infos = self.node.get_subscriptions_info_by_topic(topic)
            present[topic] = {info.node_name for info in infos}
            discovered[topic] = len(infos)
            matched[topic] = self.publishers[topic].get_subscription_count()
        return missing_subscribers(self.waits, present, matched, discovered)

    def _poll(self) -> None:
        missing = self.missing()
        if not missing:
            self.timer.cancel()  # the gate opens once
            self.node.get_logger().info(f"subscribers matched after {time.monotonic() - self.started:.2f} s")
            self.on_open()
        elif time.monotonic() - self.started > self.timeout_s:
            raise RuntimeError(f"waited {self.timeout_s:g} s for subscribers that never came: {'; '.join(missing)} "
                               f"(are those nodes running, on this ROS_DOMAIN_ID?)")
