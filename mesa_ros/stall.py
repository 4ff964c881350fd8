"""A graph run watched for a stall at start-up, so that the demo does not wait for ever.

The lockstep simulator reports a state that waits for its command (``health.simulator``: a log line after 10, 20,
40 ... s). A run whose *first* state has waited ``START_STALL_S`` is stopped, after every node has dumped its
threads' stacks into the log (SIGUSR1, ``nodes.runner``), and the caller may start it again: the lockstep graph
repeats a seed's run exactly. Seen once in about 190 starts (session 22: all nodes matched, then the safety monitor
took no input for 6 minutes; cause not found, 0 in 120 starts under load since).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mesa_ros.core.health import STALL_S

START_STALL_S = 2 * STALL_S  # the simulator's second report
WATCH_S = 300.0  # a first state is published within seconds of the start: the log is read only this long
_STALL = re.compile(r"no command for the current state for (\d+) s.*\(step 0\)")
_STARTED = re.compile(r"\[launcher\] started \S+ \(pid (\d+)\)")


def stalled_at_start(log: str, after_s: float = START_STALL_S) -> bool:
    """Whether a launch log shows the first state waiting ``after_s`` or more for its command."""
    return any(int(m.group(1)) >= after_s for m in _STALL.finditer(log))


def dump_stacks(log: str) -> None:
    """SIGUSR1 to every node the launcher started (by the pids in its log): each prints its threads' stacks."""
    for pid in _STARTED.findall(log):
        try:
            os.kill(int(pid), signal.SIGUSR1)
        except ProcessLookupError:
            pass


def run_watched(cmd: Sequence[str], log_path: Path, env: Mapping[str, str], timeout_s: float | None = None,
                poll_s: float = 1.0) -> int | None:
    """Run the launch command ``cmd`` with its output in ``log_path``: its exit code, or None when its first state
    stalled (or it ran past ``timeout_s``); then the nodes' stacks are in the log and the launch was stopped."""
    began = time.monotonic()
    with log_path.open("w") as log:
        launch = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=dict(env))
    try:
        while (code := launch.poll()) is None:
            time.sleep(poll_s)
            elapsed = time.monotonic() - began
            if (timeout_s is not None and elapsed > timeout_s) or (
                    elapsed < WATCH_S and stalled_at_start(log_path.read_text())):
                break
        else:
            return code
        dump_stacks(log_path.read_text())
        time.sleep(2.0)  # the dumps reach the log
        launch.send_signal(signal.SIGINT)  # the launcher stops its nodes
        launch.wait(timeout=120)
        return None
    finally:  # an exception, Ctrl-C or a launcher deaf to SIGINT: nothing left running
        if launch.poll() is None:
            launch.kill()
            launch.wait()
