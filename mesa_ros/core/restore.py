"""Building and restoring a run: its config, its networks, its checkpoints, its datasets (one rebuild for all).

Used by the ``mesa-ros`` commands (one stage per command, checkpoints between them), the nodes and
the experiment runner. Checkpoints hold module ``sac`` (the task policy,
untrained until phase 3: the critic targets' a' ~ pi_task(s') come from it offline), ``critic``
after meta-train (MESA / Multi-Task), ``critic`` + ``recovery`` after adapt and phase 3; the header
keeps the full config and ``extra`` = {"stage", "method", "task", ...}.

Seeds: everything derives from ``cfg.seed``: the task policy is initialised after
``torch.manual_seed(seed + 2)``; the offline stage uses ``seed``, the adaptation ``seed + 1``
(``methods``); phase 3 uses ``seed``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from mesa_ros import envs
from mesa_ros.core import checkpoint, online
from mesa_ros.core.bag_dataset import bag_to_datasets
from mesa_ros.core.bags import is_bag
from mesa_ros.core.config import MesaConfig, load_config, merge, parse_override, stored_config
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.methods import Method, get_method, new_critic, new_recovery
from mesa_ros.core.sac import SAC
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.core.safety_layer import SafetyLayer

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

    def offline_layer(self) -> SafetyLayer:
        """The layer phase 2 starts from: the stored one, or the stored critic with a fresh pi_rec (a critic-only
        checkpoint: meta-trained before pi_rec existed)."""
        if self.critic is None:
            raise ValueError("the checkpoint holds no critic")
        return self.safety or SafetyLayer(self.critic, new_recovery(self.cfg, *self.space))


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
    """Restore a checkpoint file (see ``resolve_config`` for the config; ``method`` defaults to the stored one)."""
    return restore_run(checkpoint.load(path, env=env), path, method, preset, overrides)


def restore_run(ckpt: checkpoint.Checkpoint, path: str | os.PathLike, method: str | None = None,
                preset: str | None = None, overrides: Sequence[str] = ()) -> Run:
    """``load_checkpoint`` of a checkpoint already read (``path`` names it in errors)."""
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
    critic_state, recovery_state = checkpoint.safety_modules(ckpt, str(path), need_critic=False)
    critic = safety = None
    if critic_state is not None:
        critic = new_critic(cfg, *space)
        ckpt.load_into("critic", critic)
    if recovery_state is not None:
        recovery = new_recovery(cfg, *space)
        ckpt.load_into("recovery", recovery)
        safety = SafetyLayer(critic, recovery)
    return Run(cfg, m, space, agent, critic, safety, dict(ckpt.extra))
