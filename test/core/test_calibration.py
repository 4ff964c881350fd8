"""Calibration diagnostic: steps to the next violation, and Q_risk grouped by them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mesa_ros.core.calibration import (
    auc,
    before_first_violation,
    calibration,
    discrimination,
    steps_to_violation,
)
from mesa_ros.core.config import SafetyCriticConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, allocate
from mesa_ros.core.safety_critic import SafetyCritic

META = DatasetMetadata(env="HalfCheetah-Disabled", task={"power_scale": {"ffoot": 0.0}}, split="test",
                       policy="random", seed=0)


def test_steps_to_violation_counts_within_the_episode():
    c = np.array([0, 0, 1, 0, 1, 1, 0, 0, 0, 1])
    episode = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    # episode 1 has no violation: inf; a violation in episode 2 is not seen from episode 1
    assert steps_to_violation(c, episode).tolist() == [2, 1, 0, 1, 0, 0, np.inf, np.inf, 1, 0]


def test_before_first_violation_ends_at_each_episodes_first():
    c = np.array([0, 1, 0, 1, 0, 0, 1, 1])
    episode = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    assert before_first_violation(c, episode).tolist() == [True, True, False, False, True, True, True, False]
    # an id that comes back later is a new episode, as in steps_to_violation
    assert before_first_violation(np.array([1, 0, 0]), np.array([0, 1, 0])).tolist() == [True, True, True]


def test_steps_to_violation_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="equal-length"):
        steps_to_violation(np.zeros(3), np.zeros(4))


def test_calibration_groups_by_distance_with_the_critic_values():
    """A critic whose risk is the first observation feature: each bin's median is that of its states."""
    n = 40
    arrays = allocate(n, 3, 2)
    arrays["episode"][:] = np.arange(n) // 20
    arrays["step"][:] = np.arange(n) % 20
    arrays["c"][[5, 30]] = True
    arrays["truncated"][[19, 39]] = True
    dist = steps_to_violation(arrays["c"], arrays["episode"])
    arrays["s"][:, 0] = np.where(np.isinf(dist), 0.02, 0.9 ** np.minimum(dist, 50))  # risk falls with distance
    data = TransitionDataset(**arrays, metadata=META)

    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(4,), gamma_risk=0.5))
    critic.q_risk.forward = lambda obs, action, all_heads=False: obs[..., 0]  # the risk feature itself

    rows = calibration(critic, lambda obs: torch.zeros(len(obs), 2), data, eps_risk=0.5)
    assert sum(r.count for r in rows) == n
    by_low = {r.low: r for r in rows}
    assert by_low[0].count == 2 and by_low[0].median_q == pytest.approx(1.0) and by_low[0].above_eps == 1.0
    assert by_low[0].ideal == 1.0 and by_low[4].ideal == pytest.approx(0.5 ** 4)
    assert by_low[31].median_q == pytest.approx(0.02) and by_low[31].above_eps == 0.0
    medians = [r.median_q for r in rows]
    assert medians == sorted(medians, reverse=True)


def test_auc_counts_ties_half_and_is_nan_without_a_class():
    assert auc(np.array([0.9, 0.8]), np.array([0.1, 0.2, 0.3])) == 1.0
    assert auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5  # every pair tied
    assert auc(np.array([0.5, 0.2]), np.array([0.5, 0.1])) == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert np.isnan(auc(np.array([]), np.array([0.1])))


def test_discrimination_separates_the_states_before_a_violation():
    """Risk = the first feature, high exactly 1..3 steps before a violation: AUC 1 at horizon 3, lower at 10
    (positives 4-10 steps ahead look safe); warnings above eps only before the violation. The fallen robot after
    an episode's first violation is left out, however its risk and violations look."""
    n = 60
    arrays = allocate(n, 3, 2)
    arrays["episode"][:] = np.arange(n) // 30
    arrays["c"][[20, 25, 50]] = True  # 25: a second violation of the fallen robot
    dist = steps_to_violation(arrays["c"], arrays["episode"])
    arrays["s"][:, 0] = np.where((dist >= 1) & (dist <= 3), 0.8, 0.01)
    arrays["s"][26:30, 0] = 0.9  # after the fall: if counted, negatives above every positive
    arrays["a_exec"][:, 0] = 1.0  # the executed action: the critic must be asked about pi(s) instead
    data = TransitionDataset(**arrays, metadata=META)
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(4,)))
    # risk = the feature while the action is pi's (zeros); any other action looks safe
    critic.q_risk.forward = lambda obs, action, all_heads=False: obs[..., 0] * (action[..., 0] == 0)

    def pi(obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(obs), 2)

    near = discrimination(critic, pi, data, eps_risk=0.5, horizon=3)
    assert (near.positives, near.negatives) == (6, 2 * 17)  # 21-29 and 51-59 follow a first violation
    assert near.auc == 1.0 and near.warn_positive == 1.0 and near.warn_negative == 0.0
    far = discrimination(critic, pi, data, eps_risk=0.5, horizon=10)
    assert (far.positives, far.negatives) == (20, 20)
    # 6 positives above all 20 negatives, 14 tied with them: (6 * 20 + 0.5 * 14 * 20) / (20 * 20)
    assert far.auc == pytest.approx(0.65) and far.warn_positive == pytest.approx(6 / 20)
    assert discrimination(critic, pi, data, eps_risk=0.8, horizon=3).warn_positive == 0.0  # strictly above eps
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        discrimination(critic, pi, data, eps_risk=0.5, horizon=0)
