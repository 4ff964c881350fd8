"""The eps_risk rule for one observation, torch-free (the control loop's nodes import it without torch).

    a_exec = a_task  if Q_risk(s, a_task) <= eps_risk,  pi_rec(s) otherwise        (paper sec. 2.3)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShieldDecision:
    action: np.ndarray  # a_exec, float32
    overridden: bool  # True when pi_rec's action replaced a_task
    risk: float  # Q_risk(s, a_task)


def decide(risk: float, eps_risk: float, a_task: np.ndarray, recover: Callable[[], np.ndarray]) -> ShieldDecision:
    """The eps_risk rule for one observation; ``recover()`` (pi_rec(s)) runs only when a_task is too risky."""
    if risk <= eps_risk:
        return ShieldDecision(a_task, False, risk)
    return ShieldDecision(recover(), True, risk)
