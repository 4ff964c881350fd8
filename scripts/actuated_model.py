"""A lookahead model of the *applied* control, with the fault identified as actuator gains (issue #12, prototype).

The lookahead's ensemble learns s' from (s, a) over a mix of training faults without knowing which one is on, so
where a joint is dead in one dataset and powered in the others it predicts an average: its one-step error on the
faulted joint is 0.35 std even with that fault's data (0.88 without). Here it learns s' from (s, g * a), g the
power left per actuator (known for each training dataset, ``task.power_scale``), so every fault of the family
"a joint loses all or part of its power" is a point g in [0, 1]^A, and a held-out fault an input the model has
seen values of. After a fault g is identified from the post-fault transitions (Adam on g = sigmoid(theta), the
ensemble's Gaussian NLL, the network fixed), and the ensemble then adapted as before on (s, g * a, s').

    python scripts/actuated_model.py fit --data runs/demo_checkpoints/train_fshin --exclude bthigh \\
        --out runs/act/fold_bthigh.safetensors
    python scripts/actuated_model.py identify --checkpoint runs/act/fold_bthigh.safetensors \\
        --data runs/la/post_bthigh_100.safetensors --out runs/act/fold_bthigh_adapted.safetensors
    python scripts/rank_candidates.py runs/rank/bthigh_300.npz runs/act/fold_bthigh_adapted.safetensors \\
        --gain <the printed g> --set lookahead.horizon=15
    python scripts/actuated_model.py evaluate --checkpoint runs/act/fold_bthigh_adapted.safetensors \\
        --task '{"power_scale": {"bthigh": 0}}' --episodes 300 --seed 1 --modes shield   # mesa-ros lookahead evaluate
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import torch

from mesa_ros.cli.lookahead import _without
from mesa_ros.core import checkpoint, lookahead_model
from mesa_ros.core.dataset import TransitionDataset, concatenate
from mesa_ros.core.restore import load_datasets, resolve_config
from mesa_ros.envs import env_class
from mesa_ros.paths import config_file

POLICY = str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors"))


def gains(data: TransitionDataset) -> np.ndarray:
    """The power left per actuator (env order) under the dataset's task."""
    scale = data.metadata.task.get("power_scale", {})
    return np.array([scale.get(name, 1.0) for name in env_class(data.metadata.env).actuator_names], np.float32)


def applied(data: TransitionDataset, g: np.ndarray) -> TransitionDataset:
    return dataclasses.replace(data, a_exec=data.a_exec * g, a_task=data.a_task * g)


def identify(ensemble, post: TransitionDataset, steps: int = 300) -> tuple[np.ndarray, float]:
    """g minimising the ensemble's Gaussian NLL of the post-fault transitions (every member on every row)."""
    s, a = torch.as_tensor(post.s, dtype=torch.float32), torch.as_tensor(post.a_exec, dtype=torch.float32)
    y = (torch.as_tensor(post.s_next - post.s, dtype=torch.float32) - ensemble.y_mean) / ensemble.y_std
    theta = torch.full((post.act_dim,), 3.0, requires_grad=True)  # g = 0.95: a healthy robot first
    optimiser = torch.optim.Adam([theta], lr=0.1)
    for p in ensemble.parameters():
        p.requires_grad_(False)
    e = ensemble.members
    for _ in range(steps):
        g = torch.sigmoid(theta)
        mean, logvar, _ = ensemble(s.expand(e, -1, -1), (a * g).expand(e, -1, -1))
        nll = ((mean - y) ** 2 * (-logvar).exp() + logvar).mean()
        optimiser.zero_grad()
        nll.backward()
        optimiser.step()
    for p in ensemble.parameters():
        p.requires_grad_(True)
    return torch.sigmoid(theta).detach().numpy(), float(nll)


def evaluate(argv: list[str]) -> int:
    """``mesa-ros lookahead evaluate`` with the checkpoint's identified gains applied to the model's input."""
    from rank_candidates import Applied

    from mesa_ros.cli import lookahead as cli_lookahead
    from mesa_ros.cli import main

    frozen = cli_lookahead.frozen_lookahead

    def with_gain(ckpt, source, cfg, seed=0, governor=None):
        shield = frozen(ckpt, source, cfg, seed, governor)
        shield.model = Applied(shield.model, np.asarray(ckpt.extra["gain"], np.float32))
        return shield

    cli_lookahead.frozen_lookahead = with_gain
    return main(["lookahead", "evaluate", *argv])


def main() -> None:
    if sys.argv[1:2] == ["evaluate"]:
        sys.exit(evaluate(sys.argv[2:]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--data", nargs="+", required=True)
    f.add_argument("--exclude", nargs="*", default=[])
    f.add_argument("--out", required=True)
    i = sub.add_parser("identify")
    i.add_argument("--checkpoint", required=True)
    i.add_argument("--data", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--no-adapt", action="store_true", help="identify g only, keep the fitted ensemble")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.monotonic()
    if args.cmd == "fit":
        parts = _without(args.data, args.exclude)
        print("training gains:", {part.metadata.task.get("power_scale") and str(gains(part)) for part in parts})
        train = concatenate([applied(part, gains(part)) for part in parts], metadata=parts[0].metadata)
        cfg = resolve_config(train.metadata.env)
        modules = lookahead_model.fit(train, checkpoint.load(POLICY).tensors["sac"], cfg.lookahead,
                                      np.random.default_rng(cfg.seed))
        checkpoint.save(args.out, modules, train.metadata.env, train.obs_dim, train.act_dim, cfg.to_dict(),
                        {"stage": "lookahead_fit", "train_transitions": len(train), "policy": POLICY,
                         "actuated": True})
        print(f"fitted on {len(train)} transitions in {time.monotonic() - start:.0f} s -> {args.out}")
        return
    ckpt = checkpoint.load(args.checkpoint)
    cfg = resolve_config(ckpt.env, stored=ckpt.config)
    modules = lookahead_model.load(ckpt, cfg.lookahead, args.checkpoint)
    (post,) = load_datasets([args.data], env=ckpt.env)
    g, nll = identify(modules["ensemble"], post)
    truth = gains(post)
    print(f"identified g {np.round(g, 3).tolist()} (nll {nll:.3f}); true {truth.tolist()}")
    losses = {}
    if not args.no_adapt:
        modules, losses = lookahead_model.adapt(modules, applied(post, g), cfg.lookahead, np.random.default_rng(0))
    checkpoint.save(args.out, modules, ckpt.env, ckpt.obs_dim, ckpt.act_dim, cfg.to_dict(),
                    {**ckpt.extra, "stage": "lookahead_adapt", "post_transitions": len(post), "gain": g.tolist()})
    print(f"{json.dumps([round(float(x), 4) for x in g])} adapted {losses} in {time.monotonic() - start:.0f} s "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
