"""``mesa-ros meta-train``: the offline stage on the training datasets (paper sec. 4.1 / sec. 5).

``--method mesa``: phase 1, second-order MAML of the safety critic over the training tasks (one dataset per task),
with one recovery-policy step per iteration on ``--recovery-data`` (the test dataset, as the reference; default:
the training data pooled, for a robot that has no test data before its fault). ``--method multitask``: critic and
recovery policy trained on all training data pooled. The checkpoint holds the critic, the recovery policy and the
task policy whose actions a' ~ pi_task(s') entered the critic targets: untrained, as in the paper, or the policy to
be guarded (``--policy-checkpoint``: a critic for the policy that is deployed); ``mesa-ros adapt`` continues from
it. Metrics go to a CSV file (and to TensorBoard with --tensorboard when the tensorboard package is installed).

Example::

    mesa-ros meta-train --method mesa --data data/nav2/train --preset cpu-small --out runs/nav2/mesa_meta.safetensors
"""
from __future__ import annotations

import argparse
import dataclasses

from mesa_ros.cli.common import (
    add_config_args,
    add_force_arg,
    add_tensorboard_arg,
    check_outputs,
    overrides,
    set_threads,
    sibling,
)
from mesa_ros.core.methods import METHODS, get_method, offline_stage
from mesa_ros.core.restore import env_spaces, load_checkpoint, load_datasets, new_agent, resolve_config, save_checkpoint
from mesa_ros.experiments.metrics import MetricsLog


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    offline = sorted(n for n, m in METHODS.items() if m.offline is not None)
    p = sub.add_parser(name, help="phase 1 (MESA: MAML) or pooled critic training (Multi-Task) on training data",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help=f"one of {offline}")
    p.add_argument("--data", required=True, nargs="+", metavar="PATH",
                   help="training-split datasets: .safetensors files, directories of them (one per task), "
                        "or rosbag2 recordings of the graph (one dataset per recorded fault)")
    p.add_argument("--recovery-data", metavar="PATH", help="mesa: dataset (.safetensors) whose states train the "
                   "recovery policy during phase 1 (reference: the test dataset); default: the training data pooled")
    p.add_argument("--policy-checkpoint", metavar="PATH", help="the task policy whose actions a' ~ pi_task(s') enter "
                   "the critic targets (a checkpoint with a 'sac' module: the policy to be guarded); default: a "
                   "freshly initialised one, as the paper (whose shield guards a policy learning from scratch)")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--metrics", help="metrics CSV (default: next to --out, *.metrics.csv)")
    add_tensorboard_arg(p)
    p.add_argument("--log-every", type=int, default=100, help="iterations between metric rows (default: 100)")
    add_config_args(p)
    add_force_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    method = get_method(args.method)
    if method.offline is None:
        raise ValueError(f"method {method.name!r} has no stage on the training data; "
                         f"run `mesa-ros adapt --method {method.name}` (or train-online) directly")
    if args.log_every < 1:
        raise ValueError(f"--log-every must be >= 1, got {args.log_every}")
    metrics_path = args.metrics or sibling(args.out, ".metrics.csv")
    check_outputs(args, [args.out, metrics_path], [*args.data, args.recovery_data, args.policy_checkpoint])
    datasets = load_datasets(args.data, split="train")
    env = datasets[0].metadata.env
    recovery_data = None if args.recovery_data is None else load_datasets([args.recovery_data], env=env)[0]
    cfg = resolve_config(env, args.preset, overrides(args), method=method)
    space = env_spaces(env)
    if args.policy_checkpoint is None:
        agent = new_agent(cfg, space)
    else:  # the guarded policy travels in the checkpoint as module 'sac', with its own network sizes
        guarded = load_checkpoint(args.policy_checkpoint, env=env)
        agent, cfg = guarded.agent, dataclasses.replace(cfg, sac=guarded.cfg.sac)
    with MetricsLog(metrics_path, args.tensorboard) as log:
        layer = offline_stage(method, cfg, *space, agent.policy, datasets, recovery_data, seed=cfg.seed,
                              progress=args.progress, log_every=args.log_every, on_log=log.write)
    out = save_checkpoint(args.out, cfg, method, space, agent, safety=layer, stage="meta-train",
                          train_tasks=[d.metadata.task for d in datasets])
    print(
        f"{method.name} offline stage on {len(datasets)} {env} training dataset(s) "
        f"({sum(map(len, datasets))} transitions, {cfg.meta.iterations} iterations) -> {out}; metrics: {metrics_path}"
    )
    return 0
