"""``mesa-ros train-online``: phase 3 (paper sec. 4.3), safe online RL in the test environment.

SAC learns the task behind the shield (eps_risk rule) while the critic and recovery policy keep
learning; episodes end on a violation or at the horizon. Start from an adapted checkpoint (mesa,
multitask, rrl), or from nothing with ``--method unconstrained --env ENV`` (SAC alone). The test
dataset (``--data``), when given, is kept in the critic's replay buffer as in Recovery RL. Writes one
CSV row per episode (return, violation, cumulative violations, override rate, wall time) and the
final checkpoint.

Examples::

    mesa-ros train-online --checkpoint runs/nav2/mesa_adapted.safetensors --data data/nav2/test.safetensors \\
        --out runs/nav2/mesa_final.safetensors
    mesa-ros train-online --method unconstrained --env Navigation-2 --preset cpu-small --out runs/nav2/sac.safetensors
"""
from __future__ import annotations

import argparse

from mesa_ros.cli.common import (
    add_config_args,
    add_force_arg,
    add_tensorboard_arg,
    check_outputs,
    overrides,
    paper_name,
    set_threads,
    sibling,
)
from mesa_ros.core import online
from mesa_ros.core.methods import SAFETY_LAYER_METHODS, get_method
from mesa_ros.core.restore import env_spaces, load_checkpoint, load_datasets, new_agent, resolve_config, save_checkpoint
from mesa_ros.core.tasks import parse_task, resolve_task
from mesa_ros.experiments.metrics import MetricsLog


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="phase 3: SAC behind the shield in the test environment, per-episode CSV",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="adapted checkpoint from mesa-ros adapt (none for unconstrained)")
    p.add_argument("--method",
                   help=f"one of {sorted(SAFETY_LAYER_METHODS)} (default: the checkpoint's, else unconstrained)")
    p.add_argument("--env", help="environment (required without --checkpoint; checked against it otherwise)")
    p.add_argument("--data", help="test-split dataset to keep in the critic's replay buffer")
    p.add_argument("--task", metavar="JSON", help="test task (default: the checkpoint's, the dataset's, "
                                                  "else drawn from the test distribution)")
    p.add_argument("--episodes", type=int, help="learning episodes (default: online.episodes)")
    p.add_argument("--out", required=True, help="final checkpoint to write (.safetensors)")
    p.add_argument("--csv", help="per-episode CSV (default: next to --out, *.episodes.csv)")
    add_tensorboard_arg(p)
    add_config_args(p, from_checkpoint=True)
    add_force_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    csv_path = args.csv or sibling(args.out, ".episodes.csv")
    check_outputs(args, [args.out, csv_path], [args.checkpoint, args.data])
    env = paper_name(args.env) if args.env else None
    extra_task = None
    if args.checkpoint is not None:
        loaded = load_checkpoint(args.checkpoint, env=env, method=args.method, preset=args.preset,
                                 overrides=overrides(args))
        method, cfg, space, agent = loaded.method, loaded.cfg, loaded.space, loaded.agent
        safety, extra_task = (loaded.safety if method.safe else None), loaded.extra.get("task")
        if method.safe and (safety is None or loaded.extra.get("stage") == "meta-train"):
            raise ValueError(f"checkpoint {args.checkpoint} is not adapted to the test environment (no phase 2); "
                             "run mesa-ros adapt on it first")
    else:
        method = get_method(args.method or "unconstrained")
        if method.safe:
            raise ValueError(f"method {method.name!r} needs --checkpoint from mesa-ros adapt")
        if env is None:
            raise ValueError("give --env (or --checkpoint)")
        cfg = resolve_config(env, args.preset, overrides(args), method=method)
        space = env_spaces(env)
        agent, safety = new_agent(cfg, space), None
    test = load_datasets([args.data], split="test", env=cfg.env)[0] if args.data else None
    task = resolve_task(cfg.env, parse_task(args.task), extra_task, test and test.metadata.task, seed=cfg.seed)
    with MetricsLog(csv_path, args.tensorboard, step_key="episode") as log:
        result = online.run(cfg, task, agent, safety, test if method.safe else None, seed=cfg.seed,
                            episodes=args.episodes, progress=args.progress, on_episode=log.write)
    out = save_checkpoint(args.out, cfg, method, space, agent, safety=safety, stage="online", task=task)
    train = [r for r in result.rows if r["mode"] == "train"]
    last = train[-10:]
    print(f"{method.name} on {cfg.env} task={task}: {len(train)} episodes, {train[-1]['total_steps']} steps, "
          f"{train[-1]['cumulative_violations']} violations; last {len(last)} episodes: mean return "
          f"{sum(r['return'] for r in last) / len(last):.2f}, override rate "
          f"{sum(r['override_rate'] for r in last) / len(last):.3f} -> {out}; episodes: {csv_path}")
    return 0
