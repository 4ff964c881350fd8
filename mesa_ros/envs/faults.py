"""Actuator power faults: a per-actuator power scale in [0, 1] applied to the clipped command.

0 is a total loss of power (the paper's disabled joint: zero motor torque), 0.5 half power, 1 healthy.
Shared by HalfCheetah-Disabled and Ant-Disabled; ``check_power_scale`` is the one check of the [0, 1]
rule, for the environments and for every interface that takes a power scale (node parameters, fault
services, launch arguments, command lines).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mesa_ros.envs.base import TaskEnvMixin, check_split, check_task_keys

#: Power scale range of the paper's partial-power-loss ablation (section 6.2).
PARTIAL_LOSS_RANGE = (0.5, 0.95)


def check_power_scale(name: str, value: Any) -> float:
    """``value`` as a power scale: a float in [0, 1]; ``ValueError`` naming ``name`` (the joint, leg or
    parameter it is for) and the value otherwise."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"power scale for {name!r} must be a number in [0, 1], got {value!r}") from None
    if math.isnan(scale):
        raise ValueError(f"power scale for {name!r} is NaN; expected a number in [0, 1]")
    if not 0.0 <= scale <= 1.0:
        raise ValueError(f"power scale for {name!r} must be in [0, 1], got {scale}")
    return scale


class PowerFaultMixin(TaskEnvMixin):
    """Per-actuator power scale; the task is ``{"power_scale": {actuator: scale, ...}}``."""

    actuator_names: tuple[str, ...] = ()
    #: Fault groups (actuators that fail together) of the training / test distributions.
    train_faults: tuple[tuple[str, ...], ...] = ()
    test_faults: tuple[tuple[str, ...], ...] = ()

    def _init_faults(self) -> None:
        self._power_scale = np.ones(len(self.actuator_names))

    # -- queries -------------------------------------------------------------------------------
    @property
    def power_scale(self) -> np.ndarray:
        """Copy of the per-actuator power scale, in actuator order."""
        return self._power_scale.copy()

    @property
    def task(self) -> dict[str, Any]:
        return {"power_scale": dict(zip(self.actuator_names, self._power_scale.tolist()))}

    def actuator_index(self, actuator: str | int) -> int:
        """Index of an actuator given by name or index; ``ValueError`` for an unknown one."""
        if isinstance(actuator, (int, np.integer)) and not isinstance(actuator, bool):
            if 0 <= int(actuator) < len(self.actuator_names):
                return int(actuator)
            raise ValueError(
                f"unknown actuator index {int(actuator)}; expected 0..{len(self.actuator_names) - 1} "
                f"({', '.join(self.actuator_names)})"
            )
        if isinstance(actuator, str) and actuator in self.actuator_names:
            return self.actuator_names.index(actuator)
        raise ValueError(f"unknown actuator/joint {actuator!r}; expected one of {list(self.actuator_names)}")

    # -- changes (validated first, applied atomically) ------------------------------------------
    def set_power_scale(self, actuator: str | int, scale: float) -> None:
        """Set one actuator's power scale (0 = total power loss); valid at any step."""
        index = self.actuator_index(actuator)
        value = check_power_scale(self.actuator_names[index], scale)
        self._power_scale[index] = value

    def clear_faults(self) -> None:
        """Restore full power on every actuator."""
        self._power_scale[:] = 1.0

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Apply ``{"power_scale": {name_or_index: scale}}``; actuators not named get full power."""
        task = check_task_keys(task, {"power_scale"}, self.family)
        scales = task.get("power_scale", {})
        if not isinstance(scales, Mapping):
            raise ValueError(f"power_scale must map actuator names to scales, got {scales!r}")
        new = np.ones(len(self.actuator_names))
        for actuator, scale in scales.items():
            index = self.actuator_index(actuator)
            new[index] = check_power_scale(self.actuator_names[index], scale)
        self._power_scale = new

    def sample_task(self, split: str, rng: np.random.Generator, partial: bool = False) -> dict[str, Any]:
        """A fault group drawn uniformly from the split; scale 0, or k ~ U(0.5, 0.95) when ``partial``."""
        check_split(split)
        groups: Sequence[tuple[str, ...]] = self.train_faults if split == "train" else self.test_faults
        group = groups[int(rng.integers(len(groups)))]
        scale = float(rng.uniform(*PARTIAL_LOSS_RANGE)) if partial else 0.0
        return {"power_scale": {name: scale for name in group}}
