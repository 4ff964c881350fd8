"""``mesa-ros demo``: the scripted HalfCheetah fault demo (see mesa_ros.demo)."""
from __future__ import annotations

import argparse

from mesa_ros.demo import scripted_fault_demo


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="scripted HalfCheetah run with a joint fault injected mid-run",
                       description=__doc__)
    p.add_argument("--steps", type=int, default=3000, help="control steps in total (3 episodes of 1000 when none fails)")
    p.add_argument("--fault-step", type=int, default=1000, help="step at which the fault is injected")
    p.add_argument("--fault-joint", default="ffoot", help="actuator that loses power (paper test fault: ffoot)")
    p.add_argument("--power-scale", type=float, default=0.0, help="remaining power in [0, 1] (0: total loss)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    before, after = scripted_fault_demo(args.steps, args.fault_step, args.fault_joint, args.power_scale, args.seed)
    print("HalfCheetah-Disabled, scripted sine gait, episodes end on head-floor contact")
    print(before.row())
    print(after.row())
    return 0
