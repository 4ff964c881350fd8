"""What every mesa_ros environment shares: the task (dynamics) interface, input checks, constraint info.

A *task* is a JSON-serialisable dict of the dynamics parameters that vary between environments of
one family (power scales, pole length, the B matrix). It is never part of the observation. It can be
set at construction, through ``reset(options={"task": ...})`` and, for faults, at any step; it
persists across ``reset()`` unless new options are given, because a robot's broken joint stays broken.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")


class TaskEnvMixin:
    """Task (dynamics) interface shared by all mesa_ros environments."""

    #: Human-readable family name used in messages and dataset metadata.
    family: str = ""

    @property
    def task(self) -> dict[str, Any]:
        """The current dynamics parameters (a fresh, JSON-serialisable dict)."""
        raise NotImplementedError

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Validate and apply ``task``; raises ``ValueError`` and changes nothing when it is invalid."""
        raise NotImplementedError

    def sample_task(self, split: Split, rng: np.random.Generator, partial: bool = False) -> dict[str, Any]:
        """Draw a task from the paper's ``train`` or ``test`` distribution (does not apply it)."""
        raise NotImplementedError

    def _apply_reset_options(self, options: Mapping[str, Any] | None) -> None:
        """Handle ``reset(options={"task": ...})``; any other key is an error."""
        if not options:
            return
        unknown = set(options) - {"task"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; supported: ['task']")
        self.set_task(options["task"])


def check_split(split: str) -> None:
    """Reject anything but ``"train"`` or ``"test"``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")


def check_action(action: Any, space: spaces.Box) -> np.ndarray:
    """Return ``action`` as a float64 array of the space's shape, or raise a ``ValueError`` naming the problem."""
    try:
        arr = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"action is not numeric: {exc}") from None
    if arr.shape != space.shape:
        raise ValueError(f"action has shape {arr.shape}, expected {space.shape}")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.ravel())).tolist()
        raise ValueError(f"action contains NaN or inf at index {bad}: {arr.tolist()}")
    return arr


def check_positive(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    """Return ``value`` as a finite float in (low, high], or raise naming ``name`` and the value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not low < number <= high:
        raise ValueError(f"{name} must be a finite number in ({low}, {high}], got {value!r}")
    return number


def check_task_keys(task: Any, allowed: set[str], family: str) -> Mapping[str, Any]:
    """Reject a task that is not a mapping or has keys the family does not know."""
    if not isinstance(task, Mapping):
        raise ValueError(f"{family} task must be a mapping like {{'{sorted(allowed)[0]}': ...}}, got {task!r}")
    unknown = set(task) - allowed
    if unknown:
        raise ValueError(f"unknown {family} task key(s) {sorted(unknown)}; expected {sorted(allowed)}")
    return task


def constraint_info(violation: bool) -> dict[str, Any]:
    """The per-step constraint fields every environment puts in ``info``."""
    return {"c": bool(violation), "cost": 1.0 if violation else 0.0}
