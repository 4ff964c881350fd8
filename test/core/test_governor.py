"""The risk governor (core/governor.py): the action scale c steps down while a window's mean risk exceeds the
budget, stays in the hysteresis band, steps back up under half the budget, within [min_scale, 1]; in the lookahead
shield the eps rule runs on c * a_task and the model rolls c * pi. The model rule instead takes, per window, the
fastest gait of its grid whose mean model risk is within budget, else the least risky."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.config import GovernorConfig, LookaheadConfig, MesaConfig, merge, parse_override
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.lookahead import ModelLookahead


def feed(governor: RiskGovernor, risks: list[float]) -> list[float]:
    return [governor.update(r) for r in risks]


def test_the_scale_follows_each_windows_mean_risk_against_the_budget():
    gov = RiskGovernor(GovernorConfig(budget=0.1, window=4, step=0.05, max_steps_down=1, min_scale=0.8, rule="step"))
    assert gov.window_means is None
    assert feed(gov, [0.0, 0.0, 0.0, 0.5]) == [1.0, 1.0, 1.0, 0.95]  # mean 0.125 > 0.1: down, at the window's end
    assert gov.window_means.tolist() == [0.125]
    assert feed(gov, [0.3] * 4)[-1] == 0.9
    assert feed(gov, [0.08] * 4)[-1] == 0.9  # 0.05 <= 0.08 <= 0.1: held
    assert feed(gov, [0.0] * 4)[-1] == 0.95  # under half the budget: back up
    for _ in range(10):
        feed(gov, [1.0] * 4)
    assert gov.scale == 0.8  # never below min_scale
    for _ in range(10):
        feed(gov, [0.0] * 4)
    assert gov.scale == 1.0  # never above 1
    assert feed(gov, [float("nan")] * 8 + [1.0] * 3)[-1] == 1.0  # NaN risks are not counted: 3 of 4 so far
    assert gov.update(1.0) == 0.95


def test_the_step_down_grows_with_log2_of_the_risk_over_the_budget_up_to_max_steps_down():
    gov = RiskGovernor(GovernorConfig(budget=0.01, window=2, step=0.05, max_steps_down=3, min_scale=0.5, rule="step"))
    assert feed(gov, [0.015, 0.015])[-1] == 0.95  # 1.5 x the budget: one step
    assert feed(gov, [0.03, 0.03])[-1] == 0.85  # 3 x: ceil(log2 3) = 2 steps
    assert feed(gov, [0.5, 0.5])[-1] == 0.7  # 50 x: 6 steps, at most 3
    assert feed(gov, [0.0, 0.0])[-1] == 0.75  # up: always one step
    assert feed(gov, [1.0, 1.0])[-1] == 0.6 and feed(gov, [1.0, 1.0])[-1] == 0.5  # never below min_scale
    ladder = RiskGovernor(GovernorConfig(budget=0.01, window=2, step=0.05, max_steps_down=1, rule="step"))  # a ladder
    assert feed(ladder, [0.5, 0.5])[-1] == 0.95
    tiny = RiskGovernor(GovernorConfig(budget=1e-320, window=1, step=0.05, max_steps_down=4, rule="step"))  # inf ratio
    assert tiny.update(1.0) == 0.8
    with pytest.raises(ValueError, match="governor.budget > 0"):
        RiskGovernor(GovernorConfig(budget=0.0))  # off: from_config gives None instead


def test_early_steps_down_once_the_windows_mean_must_exceed_the_budget_and_starts_a_new_window():
    cfg = dict(budget=0.05, window=10, step=0.05, max_steps_down=3, min_scale=0.5, rule="step")
    late, early = RiskGovernor(GovernorConfig(**cfg)), RiskGovernor(GovernorConfig(**cfg, early=True))
    warnings = [0.0, 0.0, 1.0] + [0.0] * 7  # one warning: a share of 0.1, twice the budget
    assert feed(late, warnings) == [1.0] * 9 + [0.95]  # at the window's end
    assert feed(early, warnings) == [1.0, 1.0, 0.95] + [0.95] * 7  # at once: sum 1 > 0.05 x 10, mean 1 / 10
    assert early.window_means.tolist() == [0.1]
    assert feed(early, [0.0] * 3) == [0.95, 0.95, 1.0]  # the new window began after the warning: 7 + 3 quiet
    held = RiskGovernor(GovernorConfig(**cfg, early=True))
    assert feed(held, [0.04] * 10) == [1.0] * 10  # never above 0.05 x 10 so far, mean 0.04 at the end: held
    assert feed(held, [0.3, 0.3]) == [1.0, 0.95]  # 0.6 > 0.5 after two: mean 0.06, one step
    with pytest.raises(ValueError, match="governor.early=true needs rule 'step'"):
        GovernorConfig(budget=0.01, rule="model", early=True)


def test_a_governor_from_a_config_is_none_when_off_and_a_carried_scale_is_kept_within_bounds():
    assert RiskGovernor.from_config(None) is None and RiskGovernor.from_config(GovernorConfig(budget=0.0)) is None
    assert RiskGovernor.from_config(GovernorConfig(budget=0.01), scale=0.7).scale == 0.7
    assert RiskGovernor.from_config(GovernorConfig(budget=0.01, min_scale=0.9), scale=0.5).scale == 0.9
    assert RiskGovernor.from_config(GovernorConfig(budget=0.01), scale=1.3).scale == 1.0


@pytest.mark.parametrize("key, value", [("budget", -0.1), ("window", 0), ("step", 0.0), ("max_steps_down", 0),
                                        ("min_scale", 1.5), ("rule", "fast"), ("grid_every", 0)])
def test_bad_governor_settings_are_refused_naming_the_key(key, value):
    with pytest.raises(ValueError, match=f"governor.{key}"):
        merge(MesaConfig(), parse_override(f"governor.{key}={value}"))  # as --set gives it


class Cliff:
    """s' = s + a; a catastrophe when s' > 1 (a model without noise, two members)."""

    members, obs_dim, act_dim = 2, 1, 1

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_next = s + a
        return s_next, (s_next[:, 0] > 1).astype(np.float32)


def test_the_lookahead_runs_its_rule_on_the_scaled_action_and_rolls_the_scaled_policy():
    walk = lambda s: np.full((len(s), 1), 0.3, np.float32)  # noqa: E731
    cfg = LookaheadConfig(horizon=3, particles=2, members=2, eps_risk=0.5)
    gov = RiskGovernor(GovernorConfig(budget=0.4, window=1, step=0.5, min_scale=0.5, rule="step"))
    guard = ModelLookahead(Cliff(), walk, np.array([-1.0]), np.array([1.0]), cfg, governor=gov)
    s = np.array([0.2], np.float32)  # at c = 1: 0.5, 0.8, 1.1: falls at the third step
    first = guard(s, np.array([0.3], np.float32))
    assert first.risk == 1.0 and guard.scale == 0.5  # the window's mean risk 1 > 0.4: c halves for what follows
    second = guard(s, np.array([0.3], np.float32))
    assert second.risk == 0.0 and not second.overridden  # c = 0.5: 0.35, 0.5, 0.65: no fall
    assert second.action[0] == pytest.approx(0.15)  # the executed action is c * a_task
    assert guard.scale == 1.0  # mean risk 0 < 0.2: back up


def test_the_model_rule_takes_the_fastest_gait_within_budget_else_the_least_risky():
    gov = RiskGovernor(GovernorConfig(budget=0.1, window=4, step=0.25, min_scale=0.5, rule="model", grid_every=2))
    assert gov.grid.tolist() == [1.0, 0.75, 0.5]
    due = []
    for risks in ([0.4, 0.1, 0.0], [9.0, 9.0, 9.0], [0.2, 0.1, 0.0], [9.0, 9.0, 9.0]):
        due.append(gov.grid_due)
        gov.update(float("nan"), np.array(risks) if gov.grid_due else None)
    assert due == [True, False, True, False]  # the grid is rolled at every second decision only
    assert gov.scale == 0.75  # window means 0.3, 0.1, 0.0: the fastest within 0.1
    assert gov.window_means.tolist() == pytest.approx([0.3, 0.1, 0.0])  # what it chose on, for diagnostics
    for risks in ([0.5, 0.3, 0.4], [0.5, 0.3, 0.4]):
        gov.update(0.0, np.array(risks))
        gov.update(0.0)
    assert gov.scale == 0.75  # none within budget: the least risky, here not the slowest
    for risks in ([0.3, 0.3, 0.3], [0.3, 0.3, 0.3]):
        gov.update(0.0, np.array(risks))
        gov.update(0.0)
    assert gov.scale == 1.0  # a tie goes to the faster gait: slowing down is not free
    for _ in range(4):
        gov.update(0.0)
    assert gov.scale == 1.0 and gov.window_means.tolist() == [0.3] * 3  # a window without a grid sample keeps c
    with pytest.raises(ValueError, match="each of the 3 gaits"):
        gov.update(0.0, np.array([0.1, 0.2]))


def test_the_lookahead_rolls_each_gait_of_the_grid_with_common_noise_and_the_model_rule_picks_one():
    walk = lambda s: np.full((len(s), 1), 0.3, np.float32)  # noqa: E731
    cfg = LookaheadConfig(horizon=3, particles=2, members=2, eps_risk=0.5)
    gov = RiskGovernor(GovernorConfig(budget=0.4, window=1, step=0.25, min_scale=0.5, rule="model"))
    guard = ModelLookahead(Cliff(), walk, np.array([-1.0]), np.array([1.0]), cfg, governor=gov)
    s = np.array([0.2], np.float32)  # c = 1: 0.5, 0.8, 1.1 falls; 0.75: 0.425, 0.65, 0.875 and 0.5: no fall
    assert guard.scale_risks(s, gov.grid).tolist() == [1.0, 0.0, 0.0]
    decision = guard(s, np.array([0.3], np.float32))
    assert decision.risk == 1.0 and guard.scale == 0.75  # the fastest gait the model deems within budget
    assert guard.grid_s > 0.0  # its time is known, and reserved out of a decision budget when next due:
    guard.grid_s, guard.budget_s = 1e3, 10.0
    batches: list[int] = []
    risk = guard.risk
    guard.risk = lambda obs, seq, rng=None: batches.append(len(seq)) or risk(obs, seq, rng)
    guard.scale_risks = lambda obs, scales: np.zeros(len(scales))
    guard(np.array([0.9], np.float32), np.array([0.3], np.float32))  # risky: a search with no time left
    assert batches == [1, cfg.search_chunk]  # a_task's risk, then the first batch only


class Gust(Cliff):
    """A catastrophe whenever the particle's noise is positive, whatever the action."""

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return s + a, (noise[:, 0] > 0).astype(np.float32)


def test_every_gait_of_the_grid_sees_the_same_noise():
    walk = lambda s: np.full((len(s), 1), 0.3, np.float32)  # noqa: E731
    guard = ModelLookahead(Gust(), walk, np.array([-1.0]), np.array([1.0]),
                           LookaheadConfig(horizon=1, particles=64, members=2))
    risks = guard.scale_risks(np.array([0.0], np.float32), np.array([1.0, 0.8, 0.6]))
    assert 0.2 < risks[0] < 0.8 and risks.tolist() == [risks[0]] * 3  # common random numbers, not three draws
