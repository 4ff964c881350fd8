"""Where a recording came from, as string key/values for a bag's ``metadata.yaml`` ``custom_data``.

Keys (all prefixed ``mesa_ros.``): ``env``, ``task`` (JSON: the launch arguments, the fault schedule among them),
``checkpoints`` (JSON: kind -> {path, sha256}), ``params_file`` and ``params_sha256`` and ``params`` (its
YAML), ``version`` (the package's), ``git_commit`` (of a checkout; ``unknown`` for an installed package).
``mesa-ros bag2dataset`` keeps them in the dataset's metadata.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa_ros

PREFIX = "mesa_ros."


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_commit() -> str:
    """The commit of the source tree this package runs from (with ``+dirty`` for local changes), or ``unknown``."""
    root = Path(mesa_ros.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(described: Mapping[str, Any]) -> dict[str, str]:
    """``described`` (env, task, checkpoints: kind -> path, params_file) completed with hashes, version and commit."""
    unknown = set(described) - {"env", "task", "checkpoints", "params_file"}
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; expected env, task, checkpoints, params_file")
    checkpoints = {}
    for kind, path in dict(described.get("checkpoints") or {}).items():
        if path:
            checkpoints[kind] = {"path": str(path), "sha256": sha256(path) if Path(path).is_file() else "missing"}
    out = {"env": str(described.get("env", "")), "task": json.dumps(described.get("task") or {}, sort_keys=True),
           "checkpoints": json.dumps(checkpoints, sort_keys=True), "version": mesa_ros.__version__,
           "git_commit": git_commit()}
    params = described.get("params_file")
    if params and Path(params).is_file():
        out.update(params_file=str(params), params_sha256=sha256(params), params=Path(params).read_text())
    return {PREFIX + k: v for k, v in out.items()}
