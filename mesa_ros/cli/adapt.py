"""``mesa-ros adapt``: phase 2 (paper sec. 4.2) on the small test-environment dataset.

MESA / Multi-Task: ``adapt.steps`` Adam steps of the critic and the recovery policy from the meta-train checkpoint
(a checkpoint with a critic alone, from an older version, gets a fresh recovery policy). RRL (``--method rrl``, no
checkpoint): critic and recovery policy learned from the test data alone (``adapt.pretrain_steps`` steps). The
adapted checkpoint (task policy, critic, recovery policy, test task) is what ``mesa-ros train-online`` and
``evaluate`` start from. Each step's losses go to a metrics CSV beside it (``--metrics``) and, with ``--tensorboard
DIR``, to TensorBoard.

Examples::

    mesa-ros adapt --checkpoint runs/nav2/mesa_meta.safetensors --data data/nav2/test.safetensors \\
        --out runs/nav2/mesa_adapted.safetensors
    mesa-ros adapt --method rrl --data data/nav2/test.safetensors --preset cpu-small --out runs/nav2/rrl.safetensors
"""
from __future__ import annotations

import argparse

from mesa_ros.cli.common import (
    add_config_args,
    add_force_arg,
    add_tensorboard_arg,
    check_outputs,
    overrides,
    set_threads,
    sibling,
)
from mesa_ros.core.methods import METHODS, adapt_stage, get_method
from mesa_ros.core.restore import env_spaces, load_checkpoint, load_datasets, new_agent, resolve_config, save_checkpoint
from mesa_ros.experiments.metrics import MetricsLog


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    safe = sorted(n for n, m in METHODS.items() if m.safe)
    p = sub.add_parser(name, help="phase 2: adapt critic + recovery policy on the test dataset (or RRL from scratch)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="meta-train checkpoint (mesa, multitask); rrl takes none")
    p.add_argument("--method", help=f"one of {safe} (default: the checkpoint's)")
    p.add_argument("--data", required=True, help="the test-split dataset (.safetensors)")
    p.add_argument("--out", required=True, help="adapted checkpoint to write (.safetensors)")
    p.add_argument("--metrics", help="per-step losses CSV (default: next to --out, *.metrics.csv)")
    add_tensorboard_arg(p)
    add_config_args(p, from_checkpoint=True)
    add_force_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    metrics_path = args.metrics or sibling(args.out, ".metrics.csv")
    check_outputs(args, [args.out, metrics_path], [args.checkpoint, args.data])
    (test,) = load_datasets([args.data], split="test")
    env = test.metadata.env
    if args.checkpoint is not None:
        loaded = load_checkpoint(args.checkpoint, env=env, method=args.method, preset=args.preset,
                                 overrides=overrides(args))
        method, cfg, space, agent = loaded.method, loaded.cfg, loaded.space, loaded.agent
        if loaded.critic is None:
            raise ValueError(f"checkpoint {args.checkpoint} holds no critic; give a meta-train checkpoint")
        offline = loaded.offline_layer()
    else:
        if args.method is None:
            raise ValueError("give --method rrl, or --checkpoint from mesa-ros meta-train")
        method = get_method(args.method)
        cfg = resolve_config(env, args.preset, overrides(args), method=method)
        space = env_spaces(env)
        agent, offline = new_agent(cfg, space), None
    if not method.safe:
        raise ValueError(f"method {method.name!r} has no safety layer to adapt; train it with mesa-ros train-online")
    with MetricsLog(metrics_path, args.tensorboard, step_key="step") as log:
        layer, metrics = adapt_stage(method, cfg, *space, agent.policy, test, offline, seed=cfg.seed, on_log=log.write)
    out = save_checkpoint(args.out, cfg, method, space, agent, safety=layer, stage="adapt", task=test.metadata.task)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    print(f"{method.name} adapted on {len(test)} {env} test transitions ({test.num_violations} violations): "
          f"{losses} -> {out}; metrics: {metrics_path}")
    return 0
