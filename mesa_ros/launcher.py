"""The project's own launcher: a graph description -> one process per node (no ROS 2 launch system needed).

Each node runs as ``python -m <module> --ros-args -r __node:=<name> --params-file <file> --params-file
<overrides>``, its output prefixed with ``[name]``. Ctrl-C (SIGINT) or SIGTERM is forwarded to every
node; a node that exits with an error, or a ``required`` node that exits at all, stops the graph and
is reported with its exit code or signal.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from mesa_ros.graph import EXECUTABLES, NodeSpec
from mesa_ros.nodes.runner import LAUNCHER_PID


def node_command(spec: NodeSpec, overrides_file: Path) -> list[str]:
    """The command line that runs ``spec`` with its parameter file and overrides."""
    if spec.executable not in EXECUTABLES:
        raise ValueError(f"unknown executable {spec.executable!r}; known: {sorted(EXECUTABLES)}")
    cmd = [sys.executable, "-m", EXECUTABLES[spec.executable], "--ros-args", "-r", f"__node:={spec.name}",
           "--params-file", spec.params_file, "--params-file", str(overrides_file)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def describe_exit(code: int) -> str:
    return f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


@dataclass
class Running:
    spec: NodeSpec
    process: subprocess.Popen
    pump: threading.Thread


class Launcher:
    """Starts, watches and stops the processes of one graph."""

    def __init__(self, specs: Sequence[NodeSpec], env: Mapping[str, str] | None = None, out: TextIO = sys.stdout,
                 stop_timeout: float = 10.0) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")
        self.specs, self.out, self.stop_timeout = list(specs), out, stop_timeout
        # numpy's BLAS one thread per node unless set: the nodes' batches are small, and BLAS threads of several
        # processes spin against each other (session 19: the lookahead monitor next to a busy core took ~0.5 s per
        # lockstep step with the default threads, ~20 ms with one)
        self.env = {"OPENBLAS_NUM_THREADS": "1", **os.environ, **(env or {}), "PYTHONUNBUFFERED": "1",
                    LAUNCHER_PID: str(os.getpid())}
        self.running: list[Running] = []
        self.failure: str | None = None
        self.interrupted = False
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="mesa_ros_launch_")

    def _print(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _pump(self, name: str, stream) -> None:
        for line in stream:
            self._print(f"[{name}] {line.rstrip()}")

    def start(self) -> None:
        width = max(len(s.name) for s in self.specs)
        for spec in self.specs:
            overrides = Path(self._tmp.name) / f"{spec.name}.yaml"
            overrides.write_text(yaml.safe_dump({spec.name: {"ros__parameters": dict(spec.parameters)}}))
            process = subprocess.Popen(node_command(spec, overrides), env=self.env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, start_new_session=True)
            pump = threading.Thread(target=self._pump, args=(spec.name.ljust(width), process.stdout), daemon=True)
            pump.start()
            self.running.append(Running(spec, process, pump))
            self._print(f"[launcher] started {spec.name} (pid {process.pid})")

    def wait(self, poll: float = 0.1) -> int:
        """Block until the graph ends or is interrupted; returns 0 for a clean end, 1 when a node failed."""
        while not self.interrupted:
            for run in self.running:
                code = run.process.poll()
                if code is None:
                    continue
                if code != 0:
                    self.failure = f"node {run.spec.name} died unexpectedly ({describe_exit(code)})"
                    self._print(f"[launcher] {self.failure}; stopping the graph")
                    self.stop()
                    return 1
                if run.spec.required:
                    self._print(f"[launcher] required node {run.spec.name} finished; stopping the graph")
                    self.stop()
                    return 0
            time.sleep(poll)
        return 0

    def stop(self) -> None:
        """SIGINT to every node still running, then SIGTERM, then SIGKILL after ``stop_timeout`` seconds each."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [r for r in self.running if r.process.poll() is None]
            if not alive:
                break
            for run in alive:
                run.process.send_signal(sig)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and any(r.process.poll() is None for r in alive):
                time.sleep(0.05)
        for run in self.running:
            run.pump.join(timeout=2)
        self._tmp.cleanup()

    def run(self) -> int:
        """Start, wait; Ctrl-C / SIGTERM stop the graph cleanly (exit code 0).

        The signal handlers only set a flag that ``wait`` polls: raising from a handler could strike
        while the output lock is held and deadlock the shutdown.
        """
        def on_signal(_signum: int, _frame) -> None:
            self.interrupted = True

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            code = self.wait()
            if self.interrupted:
                self._print("[launcher] interrupted; stopping the graph")
                self.stop()
            return code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
