"""``mesa-ros collect``: offline transition datasets (paper sec. 5.1), one per task.

Episodes continue through violations and end at the horizon. Training-split data: one dataset per
training task (``--task`` given repeatedly, or ``--num-tasks`` distinct tasks drawn from the training
distribution); test-split data: the small test-environment set. Tasks are drawn from a stream of
their own per split, so the test task differs from the training tasks of the same ``--seed``;
dataset i is collected with seed + i.
Defaults (budget, behaviour policy, number of tasks, horizon) come from the config's ``data`` and
``online.max_episode_steps``.

Examples::

    mesa-ros collect --env Navigation-2 --split train --preset cpu-small --out data/nav2/train
    mesa-ros collect --env Navigation-2 --split test --out data/nav2/test.safetensors
    mesa-ros collect --env HalfCheetah-Disabled --split train --task '{"power_scale": {"bshin": 0}}' \\
        --policy sac_early_stop --transitions 20000 --out data/cheetah/train_bshin.safetensors
    # a deployed policy's own behaviour under a training fault, with unsafe excursions
    mesa-ros collect --env HalfCheetah-Disabled --split train --task '{"power_scale": {"fshin": 0}}' \\
        --policy config/checkpoints/halfcheetah_disabled/policy.safetensors --deterministic \\
        --action-noise 0.3 --random-stretch 0.01 20 --transitions 20000 --out data/deployed/train_fshin.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mesa_ros.cli.common import add_config_args, add_force_arg, check_outputs, overrides, paper_name, set_threads
from mesa_ros.core.collect import Perturbation, collect
from mesa_ros.core.restore import load_checkpoint, resolve_config
from mesa_ros.core.tasks import draw_tasks, parse_task


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="collect offline datasets (random / SAC checkpoint / early-stopped SAC)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, help="environment, e.g. Navigation-2 or HalfCheetah-Disabled")
    p.add_argument("--split", choices=("train", "test"), default="test",
                   help="task distribution the data is for (default: test)")
    p.add_argument("--task", action="append", default=[], metavar="JSON",
                   help="explicit task (dynamics) as JSON, e.g. '{\"B\": [1.2, 0.7]}'; repeat for several datasets "
                        "(default: drawn from --split)")
    p.add_argument("--num-tasks", type=int,
                   help="datasets to collect with tasks drawn from --split (default: data.num_train_tasks for "
                        "train, 1 for test)")
    p.add_argument("--policy", help="behaviour policy: random, sac_early_stop (train SAC for the budget and keep "
                                    "its replay buffer) or a checkpoint path with a 'sac' module "
                                    "(default: data.train_policy / data.test_policy)")
    p.add_argument("--deterministic", action="store_true", help="a checkpoint policy acts with its mean action "
                   "(as the graph's task_policy runs it) instead of sampling")
    p.add_argument("--action-noise", type=float, default=0.0, metavar="SIGMA",
                   help="Gaussian noise on every action, std in units of the half-range (default 0)")
    p.add_argument("--random-stretch", type=float, nargs=2, default=(0.0, 0), metavar=("PROB", "STEPS"),
                   help="with probability PROB per step, STEPS uniform random actions follow (default: none)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--transitions", type=int, help="transitions per dataset (default: data.*_transitions)")
    budget.add_argument("--episodes", type=int, help="episodes per dataset instead of a transition budget")
    p.add_argument("--horizon", type=int, help="episode length (default: online.max_episode_steps)")
    p.add_argument("--out", required=True,
                   help="a .safetensors file for a single dataset, else a directory for <split>_NN.safetensors")
    add_config_args(p)
    add_force_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    env = paper_name(args.env)
    cfg = resolve_config(env, args.preset, overrides(args))
    tasks = [parse_task(t) for t in args.task]
    if args.num_tasks is not None and tasks and args.num_tasks != len(tasks):
        raise ValueError(f"--num-tasks {args.num_tasks} disagrees with the {len(tasks)} --task values")
    if not tasks:
        count = args.num_tasks if args.num_tasks is not None else (
            cfg.data.num_train_tasks if args.split == "train" else 1)
        if count < 1:
            raise ValueError(f"--num-tasks must be >= 1, got {count}")
        tasks = draw_tasks(env, args.split, count, cfg.seed)
    policy = args.policy or (cfg.data.train_policy if args.split == "train" else cfg.data.test_policy)
    if policy not in ("random", "sac_early_stop"):
        policy = load_checkpoint(policy, env=env).agent
    prob, length = args.random_stretch
    if length != int(length):
        raise ValueError(f"--random-stretch STEPS must be a whole number, got {length}")
    perturbation = (Perturbation(args.action_noise, prob, int(length))
                    if args.action_noise or prob or length else None)
    if args.deterministic and policy in ("random", "sac_early_stop"):
        raise ValueError(f"--deterministic applies to a checkpoint policy, not --policy {policy}")
    for name in ("transitions", "episodes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    budget = ({"num_episodes": args.episodes} if args.episodes is not None else
              {"num_transitions": args.transitions or (cfg.data.train_transitions if args.split == "train"
                                                       else cfg.data.test_transitions)})
    out = Path(args.out)
    single_file = len(tasks) == 1 and out.suffix == ".safetensors"
    targets = [out] if single_file else [out / f"{args.split}_{i:02d}.safetensors" for i in range(len(tasks))]
    if not single_file and out.exists() and not out.is_dir():
        raise ValueError(f"output {out} is a file; give a directory (or one .safetensors file for one task)")
    check_outputs(args, targets, [args.policy] if args.policy and Path(args.policy).is_file() else [])
    transitions = violations = 0
    for i, task in enumerate(tasks):
        data = collect(env, task, args.split, policy, **budget, seed=cfg.seed + i,
                       progress=args.progress, max_episode_steps=args.horizon or cfg.online.max_episode_steps,
                       sac_config=cfg.sac, deterministic=args.deterministic, perturbation=perturbation)
        path = data.save(targets[i])
        print(f"{path}: {data.summary()}")
        transitions += len(data)
        violations += data.num_violations
    print(f"collected {len(tasks)} {env} {args.split} dataset(s): {transitions} transitions, "
          f"{violations} violations -> {out}")
    return 0

