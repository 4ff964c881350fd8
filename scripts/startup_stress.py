"""Start the demo graph many times and catch a start-up hang: each start runs ``max_steps`` lockstep steps; a start
whose first state stalls or that has not ended after ``--timeout`` s gets SIGUSR1 on every node (each dumps its
threads' Python stacks) and is stopped (``mesa_ros.stall``); its log is kept.

    python scripts/startup_stress.py runs/stress --starts 100 [--extra shield:=rrl ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mesa_ros.demo import demo_ros_env
from mesa_ros.stall import run_watched


def one_start(out: Path, k: int, steps: int, timeout: float, extra: list[str]) -> tuple[int | None, float]:
    """(the launch's exit code, None for a hang; wall seconds); a hang leaves ``out/start<k>.log`` with the nodes'
    stacks."""
    cmd = [sys.executable, "-m", "mesa_ros.cli", "launch", "cheetah_fault", f"max_steps:={steps}", f"seed:={k}",
           "record_bag:=true", f"bag_dir:={out / f'bag{k}'}", "sync_adaptation:=true", *extra]
    began = time.monotonic()
    code = run_watched(cmd, out / f"start{k}.log", demo_ros_env(os.environ, os.getpid() + k), timeout)
    return code, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--extra", nargs="*", default=[])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    hangs, failed = [], []
    for k in range(args.starts):
        code, wall = one_start(args.out, k, args.steps, args.timeout, args.extra)
        if code == 0:
            (args.out / f"start{k}.log").unlink()
        (hangs if code is None else failed if code else []).append(k)
        result = "ok" if code == 0 else "HANG" if code is None else f"FAILED (exit code {code})"
        print(f"start {k}: {result} {wall:.1f} s; hangs so far {len(hangs)}, failures {len(failed)}", flush=True)
    print(f"{len(hangs)} hang(s) and {len(failed)} failure(s) in {args.starts} starts: {hangs} {failed} (logs kept)")
    return 1 if hangs or failed else 0

if __name__ == "__main__":
    raise SystemExit(main())
