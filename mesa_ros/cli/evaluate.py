"""``mesa-ros evaluate``: run a checkpointed task policy, with or without its shield, for N episodes.

The task policy acts deterministically and nothing learns; episodes end on a violation or at the
horizon. Prints one line per episode and a summary (mean return, violations, override rate).

Example::

    mesa-ros evaluate --checkpoint runs/nav2/mesa_final.safetensors --episodes 20
    mesa-ros evaluate --checkpoint runs/nav2/mesa_final.safetensors --no-shield
"""
from __future__ import annotations

import argparse

from mesa_ros.cli.common import add_config_args, add_force_arg, check_outputs, overrides, paper_name, set_threads
from mesa_ros.core import online
from mesa_ros.core.restore import load_checkpoint
from mesa_ros.core.tasks import parse_task, resolve_task
from mesa_ros.experiments.metrics import MetricsLog


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="evaluate a checkpointed task policy with/without the shield",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint with a task policy (train-online, adapt, ...)")
    p.add_argument("--env", help="environment the checkpoint must be for (checked)")
    p.add_argument("--task", metavar="JSON", help="task (default: the checkpoint's, else drawn from the test split)")
    p.add_argument("--episodes", type=int, default=10, help="episodes (default: 10)")
    p.add_argument("--no-shield", dest="shield", action="store_false",
                   help="execute the task policy's actions unfiltered")
    p.add_argument("--csv", help="also write the per-episode rows to this CSV file")
    add_config_args(p, from_checkpoint=True)
    add_force_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    check_outputs(args, [args.csv], [args.checkpoint])
    loaded = load_checkpoint(args.checkpoint, env=paper_name(args.env) if args.env else None, preset=args.preset,
                             overrides=overrides(args))
    cfg = loaded.cfg
    safety = loaded.safety if args.shield else None
    task = resolve_task(cfg.env, parse_task(args.task), loaded.extra.get("task"), seed=cfg.seed)
    rows = online.evaluate(cfg, task, loaded.agent, safety, episodes=args.episodes, seed=cfg.seed,
                           progress=args.progress)
    for r in rows:
        print(f"episode {r['episode']:3d}  steps {r['steps']:4d}  return {r['return']:10.2f}  "
              f"violation {r['violation']}  override rate {r['override_rate']:.3f}  "
              f"action scale {r['action_scale']:.3f}")
    if args.csv:
        with MetricsLog(args.csv, step_key="episode") as log:
            for r in rows:
                log.write(r)
    shield = "on" if safety is not None else ("off" if loaded.safety is not None else "none in checkpoint")
    mean = sum(r["return"] for r in rows) / len(rows)
    overrides_rate = sum(r["override_rate"] for r in rows) / len(rows)
    scale = sum(r["action_scale"] * r["steps"] for r in rows) / sum(r["steps"] for r in rows)
    print(f"{cfg.env} task={task} shield {shield}: {len(rows)} episodes, mean return {mean:.2f}, "
          f"violations {rows[-1]['cumulative_violations']}/{len(rows)}, mean override rate {overrides_rate:.3f}, "
          f"mean action scale (governor) {scale:.3f}")
    return 0
