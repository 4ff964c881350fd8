"""Start the demo graph many times and catch a start-up hang: each start runs ``max_steps`` lockstep steps; a start
that has not ended after ``--timeout`` s gets SIGUSR1 on every node (each dumps its threads' Python stacks,
``nodes.runner``) and is stopped; its log is kept.

    python scripts/startup_stress.py runs/stress --starts 100 [--extra shield:=rrl ...]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mesa_ros.demo import demo_ros_env

STARTED = re.compile(r"\[launcher\] started (\S+) \(pid (\d+)\)")


def one_start(out: Path, k: int, steps: int, timeout: float, extra: list[str]) -> tuple[bool, float]:
    """(ended by itself, wall seconds); a hang leaves ``out/start<k>.log`` with the nodes' stacks."""
    log = out / f"start{k}.log"
    cmd = [sys.executable, "-m", "mesa_ros.cli", "launch", "cheetah_fault", f"max_steps:={steps}", f"seed:={k}",
           "record_bag:=true", f"bag_dir:={out / f'bag{k}'}", "sync_adaptation:=true", *extra]
    env = demo_ros_env(os.environ, os.getpid() + k)
    began = time.monotonic()
    with log.open("w") as f:
        launcher = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            launcher.wait(timeout=timeout)
            return True, time.monotonic() - began
        except subprocess.TimeoutExpired:
            pass
    for _name, pid in STARTED.findall(log.read_text()):
        try:
            os.kill(int(pid), signal.SIGUSR1)
        except ProcessLookupError:
            pass
    time.sleep(2.0)
    launcher.send_signal(signal.SIGINT)
    launcher.wait(timeout=60)
    return False, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--extra", nargs="*", default=[])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    hangs = []
    for k in range(args.starts):
        ended, wall = one_start(args.out, k, args.steps, args.timeout, args.extra)
        if ended:
            (args.out / f"start{k}.log").unlink()
        else:
            hangs.append(k)
        print(f"start {k}: {'ok' if ended else 'HANG'} {wall:.1f} s; hangs so far {len(hangs)}", flush=True)
    print(f"{len(hangs)} hang(s) in {args.starts} starts: {hangs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
