"""MESA's offline stage with pi_rec trained on the pooled training data instead of the test data.

The experiments train MESA's recovery policy during phase 1 on the test dataset, as the reference
does; the deployed robot (no test data before its fault) uses the pooled training data. This makes
the second kind of offline checkpoint from an experiment directory's training data, leaving the first
``--hold-out`` training datasets out of everything (meta-training and pi_rec), so that
``scripts/recovery_rollouts.py OUT --tasks N`` measures both on training tasks neither has seen:

    python scripts/mesa_pooled_recovery.py runs/navigation-1 runs/nav1_recovery_variant --hold-out 3
    python scripts/recovery_rollouts.py runs/nav1_recovery_variant --tasks 3 --starts 100 --distance 1 5 --horizon 10
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from mesa_ros.core.methods import get_method, offline_stage
from mesa_ros.core.restore import env_spaces, load_datasets, new_agent, resolve_config, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--hold-out", type=int, default=3, help="leave the first N training datasets out")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--preset", default="cpu-small")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = sorted((args.experiment_dir / "data").glob("train_*.safetensors"))
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    for path in paths:  # the rollouts read the training datasets from OUT/data
        link = args.out / "data" / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    train = load_datasets(paths[args.hold_out:], split="train")
    method, env = get_method("mesa"), train[0].metadata.env
    space = env_spaces(env)
    for seed in range(args.seeds):
        cfg = dataclasses.replace(resolve_config(env, args.preset, [], method=method), seed=seed)
        agent = new_agent(cfg, space)
        layer = offline_stage(method, cfg, *space, agent.policy, train, None, seed=seed)  # pi_rec: pooled data
        path = save_checkpoint(args.out / "offline" / f"mesa_pooled_recovery_seed{seed}.safetensors", cfg, method,
                               space, agent, safety=layer, stage="meta-train")
        print(f"{path} (training datasets {args.hold_out}-{len(paths) - 1})")


if __name__ == "__main__":
    main()
