"""The one check of the [0, 1] power-scale rule (environments, node parameters, services, launch arguments, CLI)."""
from __future__ import annotations

import math

import pytest

from mesa_ros.envs.faults import check_power_scale


@pytest.mark.parametrize(("value", "message"), [
    (-0.1, r"power scale for 'ffoot' must be in \[0, 1\], got -0.1"),
    (1.5, r"power scale for 'ffoot' must be in \[0, 1\], got 1.5"),
    (math.nan, r"power scale for 'ffoot' is NaN; expected a number in \[0, 1\]"),
    ("half", r"power scale for 'ffoot' must be a number in \[0, 1\], got 'half'"),
    (None, r"power scale for 'ffoot' must be a number in \[0, 1\], got None"),
])
def test_values_outside_the_unit_interval_are_rejected_naming_joint_and_value(value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_power_scale("ffoot", value)


@pytest.mark.parametrize(("value", "scale"), [(0, 0.0), (0.5, 0.5), (1, 1.0), ("0.25", 0.25)])
def test_power_scales_in_the_unit_interval_come_back_as_floats(value, scale: float) -> None:
    result = check_power_scale("ffoot", value)
    assert result == scale and isinstance(result, float)
