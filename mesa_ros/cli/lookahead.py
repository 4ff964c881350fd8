"""``mesa-ros lookahead``: the model-lookahead shield (ours, issue #12; ``core/lookahead.py``) for a deployed policy.

    fit       the ensemble and the state classifier on the policy's behaviour under the training faults
    adapt     the ensemble on the post-fault transitions (as the robot would collect them)
    evaluate  episodes of the policy with and/or without the lookahead shield under a fault

Examples (the leave-one-fault-out fold of bthigh; ``mesa-ros collect`` makes the datasets)::

    mesa-ros lookahead fit --data runs/train --exclude bthigh \\
        --policy config/checkpoints/halfcheetah_disabled/policy.safetensors --out runs/la/bthigh.safetensors
    mesa-ros lookahead adapt --checkpoint runs/la/bthigh.safetensors --data runs/post_bthigh.safetensors \\
        --out runs/la/bthigh_adapted.safetensors
    mesa-ros lookahead evaluate --checkpoint runs/la/bthigh_adapted.safetensors \\
        --task '{"power_scale": {"bthigh": 0}}' --episodes 100 --modes none,shield
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mesa_ros.cli.common import add_config_args, add_force_arg, check_outputs, overrides, set_threads
from mesa_ros.core import checkpoint, lookahead_model, online
from mesa_ros.core.bags import is_bag
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset, concatenate
from mesa_ros.core.inference import frozen_lookahead, frozen_policy
from mesa_ros.core.restore import load_datasets, resolve_config
from mesa_ros.core.tasks import parse_task
from mesa_ros.experiments.metrics import MetricsLog

MODES = ("none", "shield")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="the model-lookahead shield: fit, adapt, evaluate", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")
    fit = steps.add_parser("fit", help="fit the model on the training faults' transitions")
    fit.add_argument("--data", nargs="+", required=True, help="training datasets: files, directories or bags")
    fit.add_argument("--exclude", nargs="*", default=[], metavar="NAME",
                     help="drop the datasets whose file name (without .safetensors) is NAME (a held-out fold)")
    fit.add_argument("--policy", required=True, help="checkpoint of the deployed task policy (module 'sac')")
    fit.add_argument("--out", required=True, help="lookahead checkpoint to write (.safetensors)")
    fit.set_defaults(run=run_fit)
    adapt = steps.add_parser("adapt", help="adapt the model on post-fault transitions")
    adapt.add_argument("--checkpoint", required=True, help="lookahead checkpoint from fit")
    adapt.add_argument("--data", required=True, help="the post-fault dataset (.safetensors)")
    adapt.add_argument("--out", required=True, help="adapted lookahead checkpoint to write")
    adapt.set_defaults(run=run_adapt)
    ev = steps.add_parser("evaluate", help="episodes under a fault with and/or without the shield")
    ev.add_argument("--checkpoint", required=True, help="(adapted) lookahead checkpoint")
    ev.add_argument("--task", required=True, metavar="JSON", help="the fault, e.g. '{\"power_scale\": {\"fshin\": 0}}'")
    ev.add_argument("--episodes", type=int, default=10, help="episodes per mode (default: 10)")
    ev.add_argument("--modes", default="none,shield", help="comma-separated: none (no shield), shield")
    ev.add_argument("--csv", help="also write the per-episode rows (with a 'mode' column) to this CSV file")
    ev.set_defaults(run=run_evaluate)
    for q in (fit, adapt, ev):
        add_config_args(q, from_checkpoint=q is not fit)
        add_force_arg(q)


def run_fit(args: argparse.Namespace) -> int:
    set_threads(args)
    check_outputs(args, [args.out], [args.policy, *args.data])
    parts = _without(args.data, args.exclude)
    train = concatenate(parts, metadata=parts[0].metadata)
    env = train.metadata.env
    cfg = resolve_config(env, args.preset, overrides(args))
    policy = checkpoint.load(args.policy)
    frozen_policy(policy, args.policy)  # a clear error when it holds no task policy
    if (policy.obs_dim, policy.act_dim) != (train.obs_dim, train.act_dim):
        raise ValueError(f"policy {args.policy} is for obs {policy.obs_dim} / act {policy.act_dim}, the data for "
                         f"obs {train.obs_dim} / act {train.act_dim}")
    start = time.monotonic()
    modules = lookahead_model.fit(train, policy.tensors["sac"], cfg.lookahead, np.random.default_rng(cfg.seed))
    checkpoint.save(args.out, modules, env, train.obs_dim, train.act_dim, cfg.to_dict(),
                    {"stage": "lookahead_fit", "train_transitions": len(train), "policy": args.policy})
    print(f"lookahead model fitted on {len(train)} {env} transitions ({train.num_violations} violations) in "
          f"{time.monotonic() - start:.0f} s -> {args.out}")
    return 0


def _without(paths: list[str], exclude: list[str]) -> list[TransitionDataset]:
    """The training datasets of ``paths`` minus the files (or bags) named in ``exclude`` (an unknown name is an
    error); a directory of datasets counts by its files, a bag as one."""
    files = [f for p in map(Path, paths)
             for f in (sorted(p.glob("*.safetensors")) if p.is_dir() and not is_bag(p) else [p])]
    unknown = set(exclude) - {f.stem for f in files}
    if unknown:
        raise ValueError(f"--exclude {sorted(unknown)}: no such dataset among {sorted(f.stem for f in files)}")
    kept = [str(f) for f in files if f.stem not in set(exclude)]
    if not kept:
        raise ValueError("no training dataset left after --exclude")
    return load_datasets(kept, split="train")


def _load(args: argparse.Namespace, numpy: bool = False) -> tuple[checkpoint.Checkpoint, MesaConfig]:
    """The --checkpoint (numpy arrays for the torch-free shield) with its config and the --set overrides."""
    ckpt = checkpoint.load(args.checkpoint, numpy=numpy)
    return ckpt, resolve_config(ckpt.env, args.preset, overrides(args), stored=ckpt.config)


def run_adapt(args: argparse.Namespace) -> int:
    set_threads(args)
    check_outputs(args, [args.out], [args.checkpoint, args.data])
    ckpt, cfg = _load(args)
    (post,) = load_datasets([args.data], env=ckpt.env)
    modules = lookahead_model.load(ckpt, cfg.lookahead, args.checkpoint)
    start = time.monotonic()
    adapted, losses = lookahead_model.adapt(modules, post, cfg.lookahead, np.random.default_rng(cfg.seed))
    checkpoint.save(args.out, adapted, ckpt.env, ckpt.obs_dim, ckpt.act_dim, cfg.to_dict(),
                    {**ckpt.extra, "stage": "lookahead_adapt", "post_transitions": len(post),
                     "task": post.metadata.task})
    print(f"lookahead model adapted on {len(post)} post-fault transitions ({post.num_violations} violations) in "
          f"{time.monotonic() - start:.0f} s: {', '.join(f'{k} {v:.4g}' for k, v in losses.items())} -> {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    modes = args.modes.split(",")
    if not modes or set(modes) - set(MODES):
        raise ValueError(f"--modes: expected a comma-separated list of {', '.join(MODES)}; got {args.modes!r}")
    check_outputs(args, [args.csv], [args.checkpoint])
    ckpt, cfg = _load(args, numpy=True)
    task = parse_task(args.task)
    shield = frozen_lookahead(ckpt, args.checkpoint, cfg.lookahead, cfg.seed, cfg.governor)
    rows = []
    for mode in modes:
        start = time.monotonic()
        found = online.evaluate_policy(cfg, task, shield.policy, shield if mode == "shield" else None,
                                       episodes=args.episodes, seed=cfg.seed, progress=args.progress)
        steps = sum(r["steps"] for r in found)
        falls = sum(bool(r["violation"]) for r in found)
        total = sum(r["return"] for r in found)
        overrides_ = sum(r["override_rate"] * r["steps"] for r in found)
        governed = f", governor's c at the end {shield.scale:.2f}" if mode == "shield" and shield.governor else ""
        print(f"{mode}: {json.dumps(task)}: {falls} violations in {len(found)} episodes ({steps} steps, "
              f"{falls / steps * 1000:.2f} per 1000), return per 1000 steps {total / steps * 1000:.0f}, overrides "
              f"{overrides_ / steps:.1%}{governed} ({time.monotonic() - start:.0f} s)")
        rows += [{**r, "mode": mode} for r in found]
    if args.csv:
        with MetricsLog(args.csv, step_key="episode") as log:
            for r in rows:
                log.write(r)
    return 0
