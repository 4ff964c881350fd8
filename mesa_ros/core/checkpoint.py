"""Checkpoints: safetensors (no pickle) with the config that made them in the header.

A checkpoint holds one or more named modules (``sac``, ``critic``, ``recovery``) as flat tensors
``<module>.<parameter>`` plus JSON metadata: format, version, environment, observation/action
dimensions, the module names and the full config. The same bytes travel over ROS (the safety
monitor's weights topic) and sit on disk. Loading checks environment, module names and every shape,
and says what differs. Reading can return numpy arrays (``numpy=True``) without importing torch: the
nodes that only infer (``core.inference``) stay torch-free.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_numpy

from mesa_ros.core.files import atomic

if TYPE_CHECKING:  # torch only where modules are built or saved (lazy imports below)
    import torch
    from torch import nn

FORMAT = "mesa_ros.checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """Tensors by module plus the metadata they were saved with."""

    tensors: dict[str, dict[str, Any]]  # torch tensors, or numpy arrays when read with numpy=True
    env: str
    obs_dim: int
    act_dim: int
    config: dict[str, Any]
    extra: dict[str, Any]

    def load_into(self, name: str, module: nn.Module) -> None:
        """Copy module ``name``'s tensors into ``module``; a missing/extra key or other shape is an error."""
        if name not in self.tensors:
            raise ValueError(f"checkpoint has no module {name!r}; it holds {sorted(self.tensors)}")
        load_state(module, self.tensors[name], what=f"checkpoint module {name!r}")


def safety_modules(ckpt: Checkpoint, source: str, need_critic: bool = True
                   ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The safety layer's modules in ``ckpt``: (critic, recovery), each None when absent. The one rule of how a
    checkpoint holds a safety layer, for both rebuilds (torch ``restore.load_checkpoint``, numpy
    ``inference.frozen_safety``): pi_rec never without Q_risk; ``need_critic``: Q_risk must be there."""
    critic, recovery = ckpt.tensors.get("critic"), ckpt.tensors.get("recovery")
    if recovery is not None and critic is None:
        raise ValueError(f"checkpoint {source} holds a recovery policy without a critic")
    if need_critic and critic is None:
        raise ValueError(f"checkpoint {source} has no module 'critic'; it holds {sorted(ckpt.tensors)}")
    return critic, recovery


def require_lookahead(ckpt: Checkpoint, source: str, rehearsal: bool = False) -> None:
    """The one rule of what a lookahead checkpoint holds (``core/lookahead_model.py``): ``ensemble``,
    ``catastrophe`` and the policy's ``sac``, and ``rehearsal`` where it is adapted again; else ``ValueError``."""
    missing = {"ensemble", "catastrophe", "sac", *(["rehearsal"] if rehearsal else [])} - set(ckpt.tensors)
    if missing:
        raise ValueError(f"{source} is not a lookahead checkpoint: no module(s) {sorted(missing)}; it holds "
                         f"{sorted(ckpt.tensors)}")


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(state)`` with errors that name keys and both shapes."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{what} does not match the network: missing {missing}, unexpected {unexpected}")
    for key, tensor in sorted(state.items()):
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise ValueError(f"{what}: tensor {key!r} has shape {tuple(tensor.shape)} in the checkpoint but "
                             f"{tuple(own[key].shape)} in the network (different hidden sizes or env?)")
    module.load_state_dict(dict(state))


def to_bytes(modules: Mapping[str, nn.Module | Mapping[str, torch.Tensor]], env: str, obs_dim: int, act_dim: int,
             config: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> bytes:
    """Serialise ``modules`` (modules or state dicts) with their metadata to safetensors bytes."""
    from safetensors.torch import save as save_bytes
    from torch import nn
    flat: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        if "." in name:
            raise ValueError(f"module name {name!r} must not contain '.'")
        state = module.state_dict() if isinstance(module, nn.Module) else module
        for key, tensor in state.items():
            flat[f"{name}.{key}"] = tensor.detach().cpu().contiguous()
    header = {"format": FORMAT, "version": str(VERSION), "env": env, "obs_dim": str(obs_dim),
              "act_dim": str(act_dim), "modules": json.dumps(sorted(modules)),
              "config": json.dumps(dict(config or {})), "extra": json.dumps(dict(extra or {}))}
    return save_bytes(flat, metadata=header)


def from_bytes(data: bytes, source: str = "checkpoint", env: str | None = None, numpy: bool = False) -> Checkpoint:
    """Parse safetensors bytes written by ``to_bytes``; ``env`` given: it must match. ``numpy``: the tensors as
    numpy arrays (no torch import), else as torch tensors."""
    try:
        flat = load_numpy(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ValueError(f"{source} is not a valid safetensors checkpoint: {exc}") from None
    header = _header(data, source)
    if header.get("format") != FORMAT:
        raise ValueError(f"{source} is not a mesa_ros checkpoint (format {header.get('format')!r})")
    if header.get("version") != str(VERSION):
        raise ValueError(f"{source} has checkpoint version {header.get('version')!r}; this build reads {VERSION}")
    if env is not None and header.get("env") != env:
        raise ValueError(f"{source} was trained on {header.get('env')!r}, not {env!r}")
    modules, obs_dim, act_dim, config, extra = _fields(header, source)
    tensors: dict[str, dict[str, Any]] = {name: {} for name in modules}
    for key, array in flat.items():
        name, _, rest = key.partition(".")
        if name not in tensors:
            raise ValueError(f"{source}: tensor {key!r} belongs to no listed module {modules}")
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise ValueError(f"{source}: tensor {key!r} holds NaN or infinite values")
        tensors[name][rest] = array
    if not numpy:
        import torch

        tensors = {
            name: {k: torch.from_numpy(np.array(a)) for k, a in state.items()} for name, state in tensors.items()
        }
    return Checkpoint(tensors, header["env"], obs_dim, act_dim, config, extra)


def _fields(header: Mapping[str, str], source: str) -> tuple[list[str], int, int, dict[str, Any], dict[str, Any]]:
    """The header's modules, sizes, config and extra, each checked for its type (``ValueError`` naming it)."""
    try:
        modules = json.loads(header["modules"])
        obs_dim, act_dim = int(header["obs_dim"]), int(header["act_dim"])
        config, extra = json.loads(header["config"]), json.loads(header["extra"])
        if not isinstance(header["env"], str):
            raise ValueError("env is not a string")
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{source}: unreadable checkpoint header ({type(exc).__name__}: {exc})") from None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ValueError(f"{source}: header 'modules' must be a list of names, got {modules!r}")
    if obs_dim < 1 or act_dim < 1:
        raise ValueError(f"{source}: header sizes must be >= 1, got obs_dim {obs_dim}, act_dim {act_dim}")
    if not isinstance(config, dict) or not isinstance(extra, dict):
        raise ValueError(f"{source}: header 'config' and 'extra' must be JSON objects")
    return modules, obs_dim, act_dim, config, extra


def _header(data: bytes, source: str) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors buffer (8-byte length + JSON header)."""
    try:
        length = int.from_bytes(data[:8], "little")
        return json.loads(data[8:8 + length]).get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: unreadable safetensors header: {exc}") from None


def save(path: str | os.PathLike, modules: Mapping[str, nn.Module | Mapping[str, torch.Tensor]], env: str,
         obs_dim: int, act_dim: int, config: Mapping[str, Any] | None = None,
         extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint file atomically (temp file + rename)."""
    path = Path(path)
    data = to_bytes(modules, env, obs_dim, act_dim, config, extra)
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return path


def load(path: str | os.PathLike, env: str | None = None, numpy: bool = False) -> Checkpoint:
    """Read a checkpoint file; missing, corrupt, foreign or other-env files are clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return from_bytes(path.read_bytes(), source=f"checkpoint {path}", env=env, numpy=numpy)
