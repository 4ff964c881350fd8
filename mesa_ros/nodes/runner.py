"""One ``main`` for every node: init, spin until done or signalled, shut down cleanly (exit code 0)."""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def make_executor():
    """rclpy's EventsExecutor (much less overhead per callback) unless MESA_ROS_EXECUTOR=single."""
    if os.environ.get("MESA_ROS_EXECUTOR", "events") == "single":
        return SingleThreadedExecutor()
    from rclpy.experimental import EventsExecutor
    return EventsExecutor()


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Create the node from ``factory`` and spin it; SIGINT/SIGTERM end it cleanly, exceptions are reported.

    A node may set ``done`` to end itself and ``drain_seconds`` to keep taking messages that long after a stop.
    """
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stop = {"signal": None}

    def on_signal(signum: int, _frame) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    node = None
    try:
        node = factory()
        executor = make_executor()
        executor.add_node(node)
        while rclpy.ok() and stop["signal"] is None and not getattr(node, "done", False):
            executor.spin_once(timeout_sec=0.1)
        deadline = time.monotonic() + getattr(node, "drain_seconds", 0.0)
        while rclpy.ok() and time.monotonic() < deadline:  # take what is still in flight (bag recorder)
            executor.spin_once(timeout_sec=0.05)
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
