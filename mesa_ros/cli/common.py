"""Arguments shared by the learning commands (config selection, seed, progress bars)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mesa_ros.core.files import check_output
from mesa_ros.envs import ENVS, env_id


def add_config_args(p: argparse.ArgumentParser, from_checkpoint: bool = False) -> None:
    """--preset, --set KEY=VALUE (repeatable), --seed, --threads, --no-progress."""
    base = ("the checkpoint's stored config, or config/mesa/<env>.yaml without a checkpoint" if from_checkpoint
            else "config/mesa/<env>.yaml")
    p.add_argument("--preset", help=f"preset of config/mesa/<env>.yaml, e.g. cpu-small or smoke (default: {base})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set meta.iterations=500 (repeatable)")
    p.add_argument("--seed", type=int, help="random seed (shorthand for --set seed=N)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1, the fastest for these small networks on a shared CPU)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def add_tensorboard_arg(p: argparse.ArgumentParser) -> None:
    """--tensorboard DIR: the metrics also to TensorBoard (the optional 'tensorboard' package; the CSV regardless)."""
    p.add_argument("--tensorboard", metavar="DIR", help="also log the metrics to TensorBoard in DIR (needs the "
                   "optional tensorboard package: pip install '.[tensorboard]')")


def add_force_arg(p: argparse.ArgumentParser) -> None:
    """--force: overwrite existing output files (without it an existing output is an error, nothing is written)."""
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def check_outputs(args: argparse.Namespace, outputs: list, inputs: list = ()) -> None:
    """Every output path writable before any work starts (``core.files.check_output``); None entries skipped."""
    sources = [i for i in inputs if i is not None]
    for path in outputs:
        if path is not None:
            check_output(path, sources, getattr(args, "force", False))


def set_threads(args: argparse.Namespace) -> None:
    """Apply --threads to torch."""
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)


def overrides(args: argparse.Namespace) -> list[str]:
    """The --set overrides, with --seed last."""
    return [*args.overrides, *([f"seed={args.seed}"] if args.seed is not None else [])]


def sibling(path: str | Path, suffix: str) -> Path:
    """``run/meta.safetensors`` + ``.metrics.csv`` -> ``run/meta.metrics.csv``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + suffix)


def paper_name(name: str) -> str:
    """The paper name of an environment given by paper name or gymnasium id."""
    gym_id = env_id(name)
    return next(paper for paper, spec in ENVS.items() if spec[0] == gym_id)
