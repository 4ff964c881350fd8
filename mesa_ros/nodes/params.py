"""Declaring validated parameters the way the rclpy examples do: a descriptor with description and range."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

Check = Callable[[Any], str | None]  # returns an error message, or None when the value is fine


def declare(node: Node, name: str, default: Any, description: str, *, low: float | None = None,
            high: float | None = None, choices: Sequence[str] | None = None, read_only: bool = False) -> Any:
    """Declare ``name`` with a descriptor (range / choices in the description) and return its value."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        descriptor.additional_constraints = f"one of {list(choices)}"
    if low is not None and high is not None and not isinstance(default, bool):
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
        else:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
            ]
    return node.declare_parameter(name, default, descriptor).value


def check_choice(name: str, choices: Sequence[str]) -> Check:
    return lambda v: None if v in choices else f"{name} must be one of {list(choices)}, got {v!r}"


def check_range(name: str, low: float, high: float) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, float) and math.isnan(v):
            return f"{name} is NaN; expected a number in [{low}, {high}]"
        return None if low <= v <= high else f"{name} must be in [{low}, {high}], got {v}"
    return check


def check_by(check: Callable[[Any], object]) -> Check:
    """A ``Check`` from a function that raises ``ValueError`` for a bad value (its message the reason)."""
    def run(v: Any) -> str | None:
        try:
            check(v)
        except ValueError as exc:
            return str(exc)
        return None
    return run


def validator(checks: dict[str, Check], apply: Callable[[list[Parameter]], str | None] | None = None):
    """An on-set-parameters callback: run ``checks`` by name, then ``apply``; reject with the first error."""
    def callback(params: list[Parameter]) -> SetParametersResult:
        for p in params:
            if p.name in checks and (error := checks[p.name](p.value)):
                return SetParametersResult(successful=False, reason=error)
        if apply is not None and (error := apply(params)):
            return SetParametersResult(successful=False, reason=error)
        return SetParametersResult(successful=True)
    return callback
