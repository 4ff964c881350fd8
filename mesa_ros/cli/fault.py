"""``mesa-ros fault``: inject or clear faults in a running simulator (the CLI twin of ``ros2 service call``).

    mesa-ros fault ffoot                 # total power loss: /mujoco_sim/faults/ffoot/power_loss {data: true}
    mesa-ros fault ffoot --power-scale 0.5   # partial: sets fault.power_scale first
    mesa-ros fault ffoot --restore       # {data: false}
    mesa-ros fault clear | random        # /mujoco_sim/faults/clear, /mujoco_sim/faults/random
    mesa-ros fault bshin:0.5 fthigh:0    # compound: exactly these joints at these scales, in one atomic request
"""
from __future__ import annotations

import argparse

from mesa_ros.nodes.client import call_fault_service


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="inject/clear a joint fault in a running mujoco_sim", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="+", help="joint name (bthigh ... ffoot), 'clear' or 'random'; or several "
                   "JOINT:SCALE for a compound fault")
    p.add_argument("--power-scale", type=float, default=None, help="power left on the joint, in [0, 1] (default: the "
                   "simulator's fault.power_scale, 0 unless changed)")
    p.add_argument("--restore", action="store_true", help="give the joint its full power back")
    p.add_argument("--node", default="mujoco_sim", help="simulator node name")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the service")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ok, message = call_fault_service(args.target, args.power_scale, args.restore, args.node, args.timeout)
    print(message)
    return 0 if ok else 2
