"""``mesa-ros demo``: the fault-tolerance demo (see mesa_ros.demo).

Runs the cheetah_fault ROS graph twice from the same seed (MESA adaptation + shield, and no shield);
the simulator applies --fault (default fshin: total loss of the front shin, the fault the shipped
safety checkpoints were trained without, and the one that makes the shipped policy fall) just before
--fault-step. The MESA run goes on
--steps-after-shield control steps after its shield comes on; the no-shield run covers the same sim
stamps. Prints return and violations before the fault, after it without the shield, and with the
shield over those same stamps; writes summary.json, demo.png, the adapted checkpoint and the bags
converted to datasets under --out. ``--scripted`` runs the ROS-free scripted-gait variant instead.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from mesa_ros.demo import SHIELDS, graph_demo, scripted_fault_demo
from mesa_ros.envs.half_cheetah import HalfCheetahDisabledEnv

FAULT_JOINTS = HalfCheetahDisabledEnv.actuator_names


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="fault-tolerance demo: ROS graph, a joint's power loss mid-run, MESA shield",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60000, help="at most this many control steps per run (graph demo: "
                   "the MESA run fails if its shield is not on by then; --scripted: the run's length)")
    p.add_argument("--steps-after-shield", type=int, default=2000, help="control steps compared after the shield "
                   "comes on (default 2000 = 100 s of sim time)")
    p.add_argument("--fault-step", type=int, default=1000, help="step at which the fault is injected")
    p.add_argument("--fault", default="fshin", choices=FAULT_JOINTS, help="joint that loses all power (default: "
                   "fshin, held out of the shipped checkpoints' training faults)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="seeds --seed, --seed + 1, ...: one run each per shield and "
                   "one without (default 1)")
    p.add_argument(
        "--shields",
        default="mesa_lookahead",
        help=f"comma-separated shields to compare with none, of {list(SHIELDS)} (default mesa_lookahead: the "
        "shipped MESA critic with the shipped lookahead stacked on it, the launch default; multitask and rrl: the "
        "shipped Multi-Task checkpoint, and Recovery RL learned from the post-fault data alone; <critic> alone: "
        "without the lookahead; lookahead: the lookahead alone)",
    )
    p.add_argument("--out", help="output directory for bags, datasets and logs; must not hold an earlier demo "
                   "(default: runs/demo/<date>_<time>)")
    p.add_argument("--scripted", action="store_true", help="ROS-free scripted-gait variant")
    p.add_argument("--fault-joint", default="ffoot", help="--scripted: actuator that loses power")
    p.add_argument("--power-scale", type=float, default=0.0, help="--scripted: remaining power in [0, 1]")
    p.add_argument("launch_args", nargs="*", metavar="name:=value", help="extra launch arguments for the graph")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.scripted:
        before, after = scripted_fault_demo(args.steps, args.fault_step, args.fault_joint, args.power_scale, args.seed)
        print("HalfCheetah-Disabled, scripted sine gait, episodes end on head-floor contact")
        print(before.row())
        print(after.row())
        return 0
    if not 0 < args.fault_step < args.steps:
        raise ValueError(f"--fault-step must be in (0, --steps={args.steps}), got {args.fault_step}")
    if args.steps_after_shield < 1:
        raise ValueError(f"--steps-after-shield must be at least 1, got {args.steps_after_shield}")
    shields = tuple(x.strip() for x in args.shields.split(",") if x.strip())
    if not shields or any(x not in SHIELDS for x in shields) or len(set(shields)) < len(shields):
        raise ValueError(f"--shields must name some of {list(SHIELDS)}, each once, got {args.shields!r}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    out = Path(args.out or f"runs/demo/{datetime.now():%Y%m%d_%H%M%S}")
    seeds = list(range(args.seed, args.seed + args.seeds))
    try:
        result = graph_demo(out, args.steps, args.steps_after_shield, args.fault_step, seeds,
                            [f"fault:={args.fault}", *args.launch_args], shields)
    except RuntimeError as exc:  # a graph run failed or its shield never came on: the message names its log
        print(f"mesa-ros demo: error: {exc}", file=sys.stderr)
        return 1
    s = result.summary
    print(f"HalfCheetah-Disabled through the ROS graph (lockstep), {args.fault} power loss at step {args.fault_step}, "
          f"seeds {seeds}, {s['wall_seconds']:.0f} s, ROS domain {s['ros_domain_id']}")
    for row in result.rows:
        print("  " + row.row())
    for run in s["runs"]:
        line = (f"  seed {run['seed']}, {run['shield']}: shield on at sim t {run['shield_on_s']:.2f} s, overrides "
                f"{run['override_rate']:.1%} of the monitor's decisions, mean action scale (risk governor) "
                f"{run['action_scale']:.2f}")
        if (safe := run["time_to_safe"]) is not None:
            detected = (f"detection ({safe['detection_robot_s']:.2f} s) + " if "detection_robot_s" in safe else "")
            adapted = (f"{detected}{safe['transitions']} transitions ({safe['collection_robot_s']:.1f} s) + phase 2 "
                       f"({safe['phase2_s']:.1f} s of compute)")
            line += f"; time to safe on a robot at {safe['control_hz']:.0f} Hz: {safe['robot_s']:.2f} s"
            after = f", after {detected[:-3]}" if detected else ""
            line += (f" (armed at the fault{after} on the meta-trained critic; adapted weights after "
                     f"{safe['adapted_robot_s']:.1f} s = {adapted})" if safe["armed_at_fault"] else f" = {adapted}")
        print(line)
    print(f"summary: {out}/summary.json, figure: {out}/demo.png; runs, bags, datasets and adapted checkpoints: "
          f"{out}/<shield>_seed<k>, {out}/no_shield_seed<k>")
    return 0
