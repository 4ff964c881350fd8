"""Calibration diagnostic: steps to the next violation, and Q_risk grouped by them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mesa_ros.core.calibration import calibration, steps_to_violation
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
