"""Experiment glue: datasets and checkpoints in, phases 1-3 through ``methods`` and ``online``, metrics out.

Used by the ``mesa-ros`` commands (one stage per command, checkpoints between them) and by
``run_pipeline`` (all stages in one process). Checkpoints hold module ``sac`` (the task policy,
untrained until phase 3: the critic targets' a' ~ pi_task(s') come from it offline), ``critic``
after meta-train (MESA / Multi-Task), ``critic`` + ``recovery`` after adapt and phase 3; the header
keeps the full config and ``extra`` = {"stage", "method", "task", ...}.

Seeds: everything derives from ``cfg.seed``: the task policy is initialised after
``torch.manual_seed(seed + 2)``; the offline stage uses ``seed``, the adaptation ``seed + 1``
(``methods``); phase 3 uses ``seed``.
"""
from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from mesa_ros import envs
from mesa_ros.core import checkpoint, online
from mesa_ros.core.bag_dataset import bag_to_datasets
from mesa_ros.core.bags import is_bag
from mesa_ros.core.config import MesaConfig, load_config, merge, parse_override, stored_config
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.methods import Method, build, get_method, new_critic, new_recovery
from mesa_ros.core.safety_layer import SafetyLayer
from mesa_ros.core.sac import SAC
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.envs.base import SPLITS

Spaces = tuple[spaces.Box, spaces.Box]


# -- configuration ---------------------------------------------------------------------------------
def resolve_config(env: str, preset: str | None = None, overrides: Sequence[str] = (),
                   stored: Mapping[str, Any] | None = None, method: Method | None = None) -> MesaConfig:
    """The config of one command: ``stored`` (a checkpoint's config) when given and no ``preset``,
    else ``config/mesa/<env>.yaml`` with ``preset``; then each ``"a.b=value"`` override in order;
    then ``method.configure``. Unknown keys and bad values are ``ValueError``s naming the key."""
    if stored is not None and preset is None:
        cfg = stored_config(env, stored)
    else:
        cfg = load_config(env, preset)
    for text in overrides:
        cfg = merge(cfg, parse_override(text))
    if cfg.env != env:
        raise ValueError(f"config is for environment {cfg.env!r}, not {env!r}")
    return method.configure(cfg) if method is not None else cfg


def env_spaces(env: str) -> Spaces:
    """(observation_space, action_space) of a paper environment."""
    e = envs.make(env)
    try:
        return e.observation_space, e.action_space
    finally:
        e.close()


def new_agent(cfg: MesaConfig, space: Spaces) -> SAC:
    """The untrained task policy pi_task (torch seeded with ``cfg.seed + 2``)."""
    torch.manual_seed(cfg.seed + 2)
    return SAC(*space, cfg.sac)


# -- datasets --------------------------------------------------------------------------------------
def load_datasets(paths: Sequence[str | os.PathLike], split: str | None = None,
                  env: str | None = None) -> list[TransitionDataset]:
    """Datasets from files, directories (their ``*.safetensors``, sorted) and rosbag2 recordings of the
    graph (``bag_dataset``); all of one environment, and of ``split`` / ``env`` when given. Errors name
    the offending file."""
    files: list[Path] = []
    datasets: list[TransitionDataset] = []
    for path in map(Path, paths):
        if is_bag(path):  # a recording of the ROS graph: one dataset per recorded fault
            for dataset in bag_to_datasets(path, env or "HalfCheetah-Disabled", split or "train"):
                files.append(path)
                datasets.append(dataset)
            continue
        found = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
        if not found:
            raise ValueError(f"no *.safetensors datasets (and no rosbag2 bag) in directory {path}")
        files += found
        datasets += [TransitionDataset.load(f) for f in found]
    if not files:
        raise ValueError("no dataset given")
    env = env or datasets[0].metadata.env
    obs_space, act_space = env_spaces(env)
    for f, d in zip(files, datasets):
        try:
            online.check_dataset(d, env, obs_space.shape[0], act_space.shape[0])
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
        if split is not None and d.metadata.split != split:
            raise ValueError(f"{f} is a {d.metadata.split!r}-split dataset; this step needs {split!r}-split data")
    return datasets


# -- checkpoints -----------------------------------------------------------------------------------
@dataclass
class Run:
    """What a checkpoint restores: config, task policy, and the critic / safety layer it holds."""

    cfg: MesaConfig
    method: Method
    space: Spaces
    agent: SAC
    critic: SafetyCritic | None  # the critic alone (a meta-train checkpoint) or the layer's critic
    safety: SafetyLayer | None  # critic + recovery (after adapt / phase 3)
    extra: dict[str, Any]


def save_checkpoint(path: str | os.PathLike, cfg: MesaConfig, method: Method, space: Spaces, agent: SAC,
                    critic: SafetyCritic | None = None, safety: SafetyLayer | None = None, **extra: Any) -> Path:
    """Write ``sac`` and ``critic`` (or the whole safety layer) with the config and ``extra``."""
    modules: dict[str, nn.Module] = {"sac": agent.networks}
    if safety is not None:
        modules |= safety.modules()
    elif critic is not None:
        modules["critic"] = critic
    return checkpoint.save(path, modules, cfg.env, space[0].shape[0], space[1].shape[0], cfg.to_dict(),
                           {"method": method.name, **extra})


def load_checkpoint(path: str | os.PathLike, env: str | None = None, method: str | None = None,
                    preset: str | None = None, overrides: Sequence[str] = ()) -> Run:
    """Restore a checkpoint (see ``resolve_config`` for the config; ``method`` defaults to the stored one)."""
    ckpt = checkpoint.load(path, env=env)
    name = method or ckpt.extra.get("method")
    if name is None:
        raise ValueError(f"checkpoint {path} names no method; pass --method")
    m = get_method(name)
    cfg = resolve_config(ckpt.env, preset, overrides, stored=ckpt.config, method=m)
    space = env_spaces(ckpt.env)
    dims = (space[0].shape[0], space[1].shape[0])
    if (ckpt.obs_dim, ckpt.act_dim) != dims:
        raise ValueError(f"checkpoint {path} has (obs_dim, act_dim) {(ckpt.obs_dim, ckpt.act_dim)}, "
                         f"{ckpt.env} has {dims}")
    agent = SAC(*space, cfg.sac)
    ckpt.load_into("sac", agent.networks)
    critic = safety = None
    if "critic" in ckpt.tensors:
        critic = new_critic(cfg, *space)
        ckpt.load_into("critic", critic)
    if "recovery" in ckpt.tensors:
        if critic is None:
            raise ValueError(f"checkpoint {path} holds a recovery policy without a critic")
        recovery = new_recovery(cfg, *space)
        ckpt.load_into("recovery", recovery)
        safety = SafetyLayer(critic, recovery)
    return Run(cfg, m, space, agent, critic, safety, dict(ckpt.extra))


def draw_tasks(env: str, split: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct tasks from ``env``'s ``split`` distribution (``sample_task``; a duplicate is
    drawn again, up to 100 tries per task, so HalfCheetah's 4 training faults come out once each).

    Each split has its own random stream (seed, split), so the test task never repeats a training
    task's draw of the same seed (Navigation samples both splits from one distribution).
    """
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    e = envs.make(env)
    try:
        tasks: list[dict[str, Any]] = []
        tries = 0
        while len(tasks) < count:
            task = e.unwrapped.sample_task(split, rng)
            tries += 1
            if task not in tasks or tries > 100 * count:
                tasks.append(task)
        return tasks
    finally:
        e.close()


def resolve_task(env: str, *candidates: Mapping[str, Any] | None, seed: int = 0) -> dict[str, Any]:
    """The first given task of ``candidates`` (e.g. --task, the checkpoint's, the test data's), else
    the test task ``draw_tasks`` gives for ``seed`` (the one ``mesa-ros collect --split test`` uses)."""
    for task in candidates:
        if task is not None:
            return dict(task)
    return draw_tasks(env, "test", 1, seed)[0]


def parse_task(text: str | None) -> dict[str, Any] | None:
    """A task given as JSON on the command line (None stays None)."""
    if text is None:
        return None
    try:
        task = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--task must be a JSON object like '{{\"B\": [1.2, 0.7]}}': {exc}") from None
    if not isinstance(task, dict):
        raise ValueError(f"--task must be a JSON object, got {text!r}")
    return task


# -- metrics ---------------------------------------------------------------------------------------
def require_tensorboard() -> type:
    """torch's ``SummaryWriter``; a clear error when the optional ``tensorboard`` package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("TensorBoard output needs the 'tensorboard' package, which is not installed "
                         "(pip install '.[tensorboard]'; the metrics are in the CSV files regardless)") from None
    return SummaryWriter


class MetricsLog:
    """Rows of scalars to a CSV file (header from the first row, flushed per row) and, when
    ``tensorboard_dir`` is given, to TensorBoard (needs the optional ``tensorboard`` package).
    The CSV is written to a hidden temporary file beside ``csv_path`` and renamed into place when the log
    closes without an error; a run that fails or is interrupted leaves no partial file."""

    def __init__(self, csv_path: str | os.PathLike, tensorboard_dir: str | os.PathLike | None = None,
                 step_key: str = "iteration") -> None:
        self.make_tensorboard = None
        if tensorboard_dir is not None:
            writer = require_tensorboard()
            self.make_tensorboard = lambda: writer(str(tensorboard_dir))
        self.path = Path(csv_path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self.step_key = step_key
        self.file: TextIO | None = None
        self.csv: csv.DictWriter | None = None
        self.tensorboard = None

    def write(self, row: Mapping[str, Any]) -> None:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.tmp.open("w", newline="")
            self.csv = csv.DictWriter(self.file, fieldnames=list(row))
            self.csv.writeheader()
            self.tensorboard = self.make_tensorboard() if self.make_tensorboard else None
        self.csv.writerow(row)
        self.file.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != self.step_key and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, row[self.step_key])

    def close(self, keep: bool = True) -> None:
        """Close; ``keep``: rename the CSV into place, else delete it."""
        if self.file is not None:
            self.file.close()
            self.file = None
            if keep:
                os.replace(self.tmp, self.path)
            self.tmp.unlink(missing_ok=True)
        if self.tensorboard is not None:
            self.tensorboard.close()

    def __enter__(self) -> "MetricsLog":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(keep=exc_type is None)


# -- everything in one process ---------------------------------------------------------------------
def run_pipeline(method: str, cfg: MesaConfig, train_data: Sequence[TransitionDataset],
                 test_data: TransitionDataset | None, *, task: Mapping[str, Any] | None = None,
                 csv_path: str | os.PathLike | None = None, progress: bool = False) -> online.OnlineResult:
    """Offline stages of ``method`` then phase 3 in the test task (default: the test dataset's task);
    per-episode rows to ``csv_path`` when given."""
    m = get_method(method)
    cfg = m.configure(cfg)
    space = env_spaces(cfg.env)
    agent = new_agent(cfg, space)
    safety = build(m, cfg, *space, agent.policy, train_data, test_data, seed=cfg.seed, progress=progress)
    if task is None and test_data is not None:
        task = test_data.metadata.task
    log = MetricsLog(csv_path, step_key="episode") if csv_path is not None else None
    try:
        return online.run(cfg, task, agent, safety, test_data if m.safe else None, seed=cfg.seed, progress=progress,
                          on_episode=log.write if log else None)
    finally:
        if log is not None:
            log.close()
