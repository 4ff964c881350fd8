"""Locate the package's shared assets (``sim/``, ``config/``, ``launch/``) however it was installed.

* a checkout or ``pip install -e .``: the source tree next to the ``mesa_ros`` package;
* ``pip install .`` or ``colcon build``: ``<prefix>/share/mesa_ros`` (setup.py ``data_files``);
* a sourced ROS 2 workspace: the ament index (``AMENT_PREFIX_PATH``).
"""
from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

PACKAGE = "mesa_ros"
_MODULE_DIR = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    found = [_MODULE_DIR.parent]  # source tree
    # <prefix>/lib/pythonX.Y/site-packages/mesa_ros -> <prefix>/share/mesa_ros
    found.append(_MODULE_DIR.parents[3] / "share" / PACKAGE if len(_MODULE_DIR.parents) > 3 else _MODULE_DIR)
    found.append(Path(sys.prefix) / "share" / PACKAGE)
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            found.append(Path(prefix) / "share" / PACKAGE)
    return found


@cache
def share_dir() -> Path:
    """Directory holding ``sim/`` and ``config/`` for this installation."""
    for candidate in _candidates():
        if (candidate / "sim").is_dir() and (candidate / "config").is_dir():
            return candidate
    searched = ", ".join(str(c) for c in _candidates())
    raise FileNotFoundError(
        f"mesa_ros assets (sim/, config/) not found; searched: {searched}. "
        "Install with `pip install .` or `colcon build`, or run from a checkout."
    )


def sim_asset(name: str) -> Path:
    """Path of an MJCF model in ``sim/``."""
    path = share_dir() / "sim" / name
    if not path.is_file():
        raise FileNotFoundError(f"MuJoCo model {name!r} not found in {path.parent}")
    return path


def config_file(name: str) -> Path:
    """Path of a YAML file in ``config/``."""
    path = share_dir() / "config" / name
    if not path.is_file():
        raise FileNotFoundError(f"config file {name!r} not found in {path.parent}")
    return path
