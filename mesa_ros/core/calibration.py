"""Calibration of Q_risk on a dataset: predicted risk against the steps to the next violation.

A calibrated critic predicts about ``gamma_risk ** d`` for a state d steps before a violation (under
the policy that made the data) and nearly 0 far from any. Grouping a dataset's transitions by d shows
both whether the critic ranks risk (values fall with d) and whether it sits above ``eps_risk`` where
it should not (then the shield overrides everywhere): ``mesa-ros calibration``. Its foresight, ``discrimination``:
the ROC AUC of Q_risk(s, pi(s)) separating the states 1..H steps before an episode's first violation from those
further from one, and the warnings (Q_risk > eps_risk) among each; a gauge of what the shield can act on in time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy

DISTANCE_BINS: tuple[tuple[float, float], ...] = ((0, 0), (1, 3), (4, 10), (11, 30), (31, np.inf))


def steps_to_violation(c: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """For each transition, the steps until the next one with c = 1 in the same episode (0 at a
    violation; inf when none follows). Transitions must be in recording order."""
    if c.shape != episode.shape or c.ndim != 1:
        raise ValueError(f"c and episode must be equal-length vectors, got shapes {c.shape} and {episode.shape}")
    dist = np.full(len(c), np.inf)
    ahead = np.inf
    for i in range(len(c) - 1, -1, -1):
        if i + 1 < len(c) and episode[i + 1] != episode[i]:
            ahead = np.inf  # a new episode starts after i
        ahead = 0.0 if c[i] > 0 else ahead + 1
        dist[i] = ahead
    return dist


def before_first_violation(c: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """True for each transition up to and including its episode's first violation (recording order; an episode
    starts where the id changes, as in ``steps_to_violation``)."""
    keep = np.ones(len(c), dtype=bool)
    fallen = False
    for i in range(len(c)):
        if i and episode[i] != episode[i - 1]:
            fallen = False
        keep[i] = not fallen
        fallen = fallen or c[i] > 0
    return keep


@dataclass(frozen=True)
class CalibrationRow:
    """Q_risk over the transitions whose steps to the next violation lie in [low, high]."""

    low: float
    high: float
    count: int
    ideal: float  # gamma_risk ** low: the calibrated value at the bin's nearest distance
    median_q: float  # Q_risk(s, a) with the dataset's executed action
    median_q_policy: float  # Q_risk(s, pi_task(s)): what the shield evaluates
    above_eps: float  # share of the bin with Q_risk(s, pi_task(s)) > eps_risk: where the shield overrides


@torch.no_grad()
def calibration(critic: SafetyCritic, task_policy: TaskPolicy, data: TransitionDataset, eps_risk: float,
                bins: Sequence[tuple[float, float]] = DISTANCE_BINS) -> list[CalibrationRow]:
    """One row per distance bin (empty bins are left out)."""
    dist = steps_to_violation(data.c, data.episode)
    obs = torch.as_tensor(data.s, dtype=torch.float32)
    q = critic(obs, torch.as_tensor(data.a_exec, dtype=torch.float32)).numpy()
    q_policy = critic(obs, task_policy(obs)).numpy()
    rows = []
    for low, high in bins:
        sel = (dist >= low) & (dist <= high)
        if sel.any():
            rows.append(CalibrationRow(low, high, int(sel.sum()), critic.cfg.gamma_risk ** low,
                                       float(np.median(q[sel])), float(np.median(q_policy[sel])),
                                       float(np.mean(q_policy[sel] > eps_risk))))
    return rows


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC: P(score of a positive > score of a negative), ties counted half (Mann-Whitney U by sorting, so
    large sets need no pairwise matrix); NaN when either set is empty."""
    if not len(pos) or not len(neg):
        return float("nan")
    neg = np.sort(neg)
    below, upto = np.searchsorted(neg, pos, "left"), np.searchsorted(neg, pos, "right")
    return float((below + 0.5 * (upto - below)).sum() / (len(pos) * len(neg)))


@dataclass(frozen=True)
class Discrimination:
    """How well Q_risk(s, pi_task(s)) tells the states shortly before a violation from the others."""

    horizon: int  # positives: 1..horizon steps before a violation; negatives: further from one (or none ahead)
    positives: int
    negatives: int
    auc: float  # ranking quality, 0.5 = chance (threshold-free)
    warn_positive: float  # share of positives with Q_risk > eps_risk: the warnings that come in time
    warn_negative: float  # share of negatives with Q_risk > eps_risk: the false alarms


@torch.no_grad()
def discrimination(critic: SafetyCritic, task_policy: TaskPolicy, data: TransitionDataset, eps_risk: float,
                   horizon: int = 10) -> Discrimination:
    """The critic's foresight on a dataset of the policy it guards: AUC and warning rates over the states before
    each episode's first violation (the fall's onset: the states after it are the fallen robot, which an evaluation
    ending at a fall never sees; the violating states, d = 0, are neither positive nor negative)."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 step, got {horizon}")
    dist = steps_to_violation(data.c, data.episode)
    dist[~before_first_violation(data.c, data.episode)] = 0  # left out with the violations
    obs = torch.as_tensor(data.s, dtype=torch.float32)
    q = critic(obs, task_policy(obs)).numpy().reshape(-1)
    pos, neg = q[(dist >= 1) & (dist <= horizon)], q[dist > horizon]
    return Discrimination(horizon, len(pos), len(neg), auc(pos, neg), _share_above(pos, eps_risk),
                          _share_above(neg, eps_risk))


def _share_above(q: np.ndarray, eps_risk: float) -> float:
    return float(np.mean(q > eps_risk)) if len(q) else float("nan")
