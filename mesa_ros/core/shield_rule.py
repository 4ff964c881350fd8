"""The eps_risk rule for one observation, torch-free (the control loop's nodes import it without torch).

    a_exec = a_task  if Q_risk(s, a_task) <= eps_risk,  pi_rec(s) otherwise        (paper sec. 2.3)

With a warning governor (``critic_governor.budget`` > 0; ours, issue #12) the critic's warning does not hand the
step to pi_rec; it slows the gait instead:

    a_exec = c * a_task,  c stepped down while the share of warnings 1[Q_risk(s, a_task) > eps_risk] over a window
                          exceeds the budget, up while it stays under half of it (``core/governor.py``, step rule)

A critic that foresees the deployed gait's falls (offline batches with the reference's share of violations,
``meta.pos_fraction``) warns far more often after a fault that makes the gait fall than after a benign one, and a
slower gait falls less; its pi_rec, overriding on those warnings, caused falls instead (docs/results.md, "A critic
that foresees falls, and a gait it slows", session 21).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mesa_ros.core.governor import RiskGovernor


@dataclass(frozen=True)
class ShieldDecision:
    action: np.ndarray  # a_exec, float32
    overridden: bool  # True when pi_rec's action replaced a_task
    risk: float  # Q_risk(s, a_task)


def decide(risk: float, eps_risk: float, a_task: np.ndarray, recover: Callable[[], np.ndarray],
           governor: RiskGovernor | None = None) -> ShieldDecision:
    """The eps_risk rule for one observation; ``recover()`` (pi_rec(s)) runs only when a_task is too risky. With a
    warning ``governor``: ``govern`` instead (pi_rec never runs)."""
    if governor is not None:
        return govern(risk, eps_risk, a_task, governor)
    if risk <= eps_risk:
        return ShieldDecision(a_task, False, risk)
    return ShieldDecision(recover(), True, risk)


def govern(risk: float, eps_risk: float, a_task: np.ndarray, governor: RiskGovernor) -> ShieldDecision:
    """The warning governor's rule for one observation: c * a_task (c before this decision), then the warning
    1[risk > eps_risk] recorded; a NaN risk counts as a warning (fails safe, as ``decide`` overrides on it). Scaling
    towards 0 assumes action bounds symmetric about 0 (SAC's tanh policies)."""
    scale = governor.scale
    governor.update(float(not risk <= eps_risk))
    return ShieldDecision((scale * np.asarray(a_task)).astype(np.float32), False, risk)
