"""One ``main`` for every node: init, spin until done or signalled, shut down cleanly (exit code 0)."""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from collections.abc import Callable

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def make_executor():
    """rclpy's EventsExecutor (much less overhead per callback) unless MESA_ROS_EXECUTOR=single."""
    if os.environ.get("MESA_ROS_EXECUTOR", "events") == "single":
        return SingleThreadedExecutor()
    from rclpy.experimental import EventsExecutor
    return EventsExecutor()


def drain(node: Node, executor, max_factor: float = 10.0) -> None:
    """Spin until no message came for ``node.drain_seconds`` (at most ``max_factor`` times that)."""
    quiet = getattr(node, "drain_seconds", 0.0)
    start = last_activity = time.monotonic()
    seen = getattr(node, "received", 0)
    while rclpy.ok() and time.monotonic() - last_activity < quiet and time.monotonic() - start < quiet * max_factor:
        executor.spin_once(timeout_sec=0.05)
        if getattr(node, "received", 0) != seen:
            seen, last_activity = node.received, time.monotonic()


def wait_for_acks(node: Node, timeout: float = 3.0) -> None:
    """Wait until every subscriber acknowledged the node's published messages, at most ``timeout`` s in all."""
    deadline = time.monotonic() + timeout
    for publisher in node.publishers:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        publisher.wait_for_all_acked(Duration(seconds=left))


LAUNCHER_PID = "MESA_ROS_LAUNCHER_PID"  # set by the launcher in its nodes' environment


def die_with_launcher() -> None:
    """A node the launcher started gets SIGTERM (a clean stop) when the launcher dies, even by SIGKILL, which
    leaves it no chance to stop its nodes (Linux: PR_SET_PDEATHSIG). Nodes started otherwise are unaffected."""
    parent = os.environ.get(LAUNCHER_PID)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the launcher died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Create the node from ``factory`` and spin it; SIGINT/SIGTERM end it cleanly, exceptions are reported.

    A node may set ``done`` to end itself, and ``drain_seconds`` with a ``received`` message counter to keep
    taking messages after a stop until none came for ``drain_seconds`` (the bag recorder). Before exiting,
    a node waits (bounded) until its reliable publishers' messages are acknowledged, so that the last
    messages of a node that ends itself (the simulator at ``max_steps``) still reach the recorder.
    """
    try:
        rclpy.init(args=args if args is not None else sys.argv,
                   signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    except RCLError as exc:  # e.g. a -p override that does not parse: one line, no traceback
        name = getattr(factory, "__name__", "node")
        print(f"[{name}] invalid ROS arguments: {str(exc).splitlines()[0]}", file=sys.stderr, flush=True)
        return 2
    stop = {"signal": None}

    def on_signal(signum: int, _frame) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # `kill -USR1 <pid>`: every thread's Python stack to stderr, also while the executor is blocked in C (a hang)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    die_with_launcher()
    node = None
    try:
        node = factory()
        executor = make_executor()
        executor.add_node(node)
        while rclpy.ok() and stop["signal"] is None and not getattr(node, "done", False):
            executor.spin_once(timeout_sec=0.1)
        drain(node, executor)
        wait_for_acks(node)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except Exception as exc:  # report which node died and why, then exit non-zero
        name = node.get_name() if node is not None else getattr(factory, "__name__", "node")
        print(f"[{name}] fatal: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
