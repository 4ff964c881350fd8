"""The stacked shield (core/stacked.py) on a 1-D cliff, s' = s + a, a fall when s' > 1: the critic's warnings set the
gait c, the lookahead's eps rule decides on c * a_task with its model rolling c * pi, and a lookahead given to the
stack is left unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.config import GovernorConfig, LookaheadConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.inference import FrozenShield
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.stacked import StackedShield

BOUNDS = np.array([-1.0], np.float32), np.array([1.0], np.float32)
RECOVERY = {"recovery_policy.scale": np.ones(1, np.float32), "recovery_policy.bias": np.zeros(1, np.float32),
            "recovery_policy.low": -np.ones(1, np.float32), "recovery_policy.high": np.ones(1, np.float32),
            "recovery_policy.net.layers.0.weight": np.zeros((1, 1), np.float32),
            "recovery_policy.net.layers.0.bias": np.full(1, -10.0, np.float32)}  # pi_rec(s) = tanh(-10) ~ -1


class Cliff:
    """s' = s + a; a fall when s' > 1 (no noise, two members)."""

    members, obs_dim, act_dim = 2, 1, 1

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_next = s + a
        return s_next, (s_next[:, 0] > 1).astype(np.float32)


def walk(s: np.ndarray) -> np.ndarray:
    return np.full((len(s), 1), 0.3, np.float32)


def stack(warn: float, governor: RiskGovernor | None) -> tuple[StackedShield, ModelLookahead]:
    """A critic whose Q_risk is ``warn`` everywhere (eps_risk 0.5), with ``governor``; the lookahead on ``Cliff``."""
    critic = FrozenShield(lambda obs, a: warn, RECOVERY, 1, eps_risk=0.5, governor=governor)
    lookahead = ModelLookahead(Cliff(), walk, *BOUNDS, LookaheadConfig(horizon=3, particles=2, members=2,
                                                                       eps_risk=0.5, candidates=8, sigma=0.6))
    return StackedShield(critic, lookahead), lookahead


def halving() -> RiskGovernor:
    """One warning per window of 1 halves c (to at most 0.5); none brings it back to 1."""
    return RiskGovernor(GovernorConfig(budget=0.4, window=1, step=0.5, min_scale=0.5, rule="step"))


def test_the_critics_warnings_slow_the_gait_and_the_lookahead_rolls_the_slowed_policy():
    shield, given = stack(warn=1.0, governor=halving())
    s = np.array([0.4], np.float32)
    first = shield(s, np.array([0.3], np.float32))  # c = 1 for this step; its warning halves c for the steps after
    assert shield.scale == 0.5 and first.action[0] == pytest.approx(0.3)
    assert first.risk == 0.0 and not first.overridden  # 0.7, then 0.5 * pi: 0.85, 1.0: no fall within 3 steps
    assert given.risk_of(s, np.array([0.3], np.float32)) == 1.0  # the lookahead given, unchanged: pi at c = 1 falls
    second = shield(s, np.array([0.3], np.float32))
    assert second.action[0] == pytest.approx(0.15)  # c * a_task, as the critic's governor sent it
    assert shield.risk_of(s, np.array([0.3], np.float32)) == 0.0  # the stack's risk: of c * a_task, the model at c


def test_without_warnings_the_gait_stays_and_the_lookahead_overrides_a_falling_action():
    shield, _ = stack(warn=0.0, governor=halving())
    safe = shield(np.array([-1.0], np.float32), np.array([0.3], np.float32))  # -0.7, -0.4, -0.1: no fall
    assert shield.scale == 1.0 and not safe.overridden and safe.action[0] == pytest.approx(0.3)
    falling = shield(np.array([0.8], np.float32), np.array([0.3], np.float32))  # 1.1 at once
    assert falling.risk == 1.0 and falling.overridden and falling.action[0] < 0.3


def test_with_the_papers_rule_the_lookahead_decides_on_pi_recs_action():
    shield, _ = stack(warn=1.0, governor=None)  # Q_risk > eps_risk: pi_rec overrides a_task
    decision = shield(np.array([-1.0], np.float32), np.array([0.3], np.float32))
    assert decision.overridden and decision.action[0] == pytest.approx(np.tanh(-10.0))  # pi_rec's, safe: kept


def test_the_stacks_governor_and_thresholds_are_its_parts():
    shield, _ = stack(warn=0.0, governor=None)
    shield.governor = halving()
    assert shield.critic.governor is shield.governor
    shield.eps_risk, shield.budget_s = 0.3, 0.01
    assert shield.lookahead.eps_risk == 0.3 and shield.lookahead.budget_s == 0.01
    assert shield.critic.eps_risk == 0.5  # the critic warns at its own threshold


def test_a_lookahead_with_a_governor_of_its_own_is_refused():
    critic = FrozenShield(lambda obs, a: 0.0, RECOVERY, 1, eps_risk=0.5)
    lookahead = ModelLookahead(Cliff(), walk, *BOUNDS, LookaheadConfig(particles=2, members=2), governor=halving())
    with pytest.raises(ValueError, match="must have no governor of its own"):
        StackedShield(critic, lookahead)


def test_a_reported_risk_leaves_the_stacks_decisions_as_they_were():
    s, a = np.array([0.8], np.float32), np.array([0.3], np.float32)  # a fall at once: the search runs
    first, _ = stack(warn=0.0, governor=halving())
    second, _ = stack(warn=0.0, governor=halving())
    second.risk_of(s, a)  # a disabled monitor's report before the first decision
    picks = [(first(s, a).action[0], second(s, a).action[0]) for _ in range(5)]
    assert all(x == y for x, y in picks), picks


def test_the_search_tries_slower_gaits_that_one_perturbed_step_cannot_reach():
    """From 0.5 the gait 0.3 falls within 3 steps whatever its first action near 0.3; at half the gait it does not."""
    s, a = np.array([0.5], np.float32), np.array([0.3], np.float32)
    critic = FrozenShield(lambda obs, a: 0.0, RECOVERY, 1, eps_risk=0.5)
    for gaits, expected in (((), 0.3), ((0.8, 0.5), 0.15)):
        cfg = LookaheadConfig(horizon=3, particles=2, members=2, eps_risk=0.5, candidates=4, sigma=1e-3,
                              escape_scales=gaits)
        shield = StackedShield(critic, ModelLookahead(Cliff(), walk, *BOUNDS, cfg))
        decision = shield(s, a)
        assert decision.risk == 1.0 and decision.overridden == bool(gaits)
        assert decision.action[0] == pytest.approx(expected, abs=1e-6)  # none safe: a_task kept; else g = 0.5
    with pytest.raises(ValueError, match="escape_scales"):
        LookaheadConfig(escape_scales=(1.0,))


def test_a_slower_gait_slows_the_gait_the_lookaheads_own_governor_set():
    """The lookahead alone with its governor at c = 0.5: from 0.75, c * a_task and c * pi fall within 3 steps, the
    gait g = 0.5 (g * c * a_task, then g * c * pi) does not; at g * pi (c forgotten) it would fall too."""
    s, a = np.array([0.75], np.float32), np.array([0.3], np.float32)
    cfg = LookaheadConfig(horizon=3, particles=2, members=2, eps_risk=0.5, candidates=4, sigma=1e-3,
                          escape_scales=(0.5,))
    shield = ModelLookahead(Cliff(), walk, *BOUNDS, cfg, governor=halving())
    first = shield(s, a)  # c = 1: every candidate falls, a_task kept; the governor halves c
    assert not first.overridden and shield.scale == 0.5
    second = shield(s, a)
    assert second.overridden and second.action[0] == pytest.approx(0.075, abs=1e-6)
    _, risks, pick = shield.search(s, np.array([0.15], np.float32), deadline=0.0)  # no time: a_task's chunk alone
    assert pick == 0 and np.isnan(risks[-1]) and not np.isnan(risks[0])
