"""Frozen numpy networks of the control loop give the torch modules' numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from mesa_ros.core.config import GovernorConfig, RecoveryConfig, SACConfig, SafetyCriticConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.inference import FrozenCritic, FrozenPolicy, FrozenShield, numpy_state
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.sac import SAC
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.core.shield import Shield
from mesa_ros.core.shield_rule import decide, govern

OBS_DIM, ACT_DIM = 5, 3
LOW, HIGH = np.array([-1.0, -2.0, 0.0]), np.array([1.0, 2.0, 0.5])


def observations(n: int = 50) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 2, (n, OBS_DIM)).astype(np.float32)


def frozen_shield(critic: SafetyCritic, recovery: RecoveryPolicy, eps_risk: float, noise_std: float = 0.0,
                  seed: int = 0) -> FrozenShield:
    return FrozenShield(FrozenCritic(numpy_state(critic), OBS_DIM, ACT_DIM), numpy_state(recovery), OBS_DIM, eps_risk,
                        noise_std, seed)


def test_frozen_policy_equals_the_deterministic_sac_action() -> None:
    torch.manual_seed(0)
    agent = SAC(spaces.Box(-np.inf, np.inf, (OBS_DIM,)), spaces.Box(LOW.astype(np.float32), HIGH.astype(np.float32)),
                SACConfig(hidden=(32, 32)))
    frozen = FrozenPolicy(numpy_state(agent.actor))
    for obs in observations():
        np.testing.assert_allclose(frozen(obs), agent.act(obs, deterministic=True), atol=1e-5)


@pytest.mark.parametrize(("twin", "wlinear"), [(False, False), (True, False), (False, True)])
def test_frozen_shield_equals_the_torch_shield(twin: bool, wlinear: bool) -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(32, 32), twin=twin, wlinear=wlinear))
    recovery = RecoveryPolicy(OBS_DIM, ACT_DIM, LOW, HIGH, RecoveryConfig(hidden=(32, 32)))
    rng = np.random.default_rng(1)
    risks = []
    for eps_risk in (0.3, 0.5, 0.7):
        reference = Shield(critic, recovery, eps_risk, noise=False)
        frozen = frozen_shield(critic, recovery, eps_risk)
        for obs in observations():
            a_task = rng.uniform(LOW, HIGH).astype(np.float32)
            want, got = reference(obs, a_task), frozen(obs, a_task)
            assert got.overridden == want.overridden
            assert got.risk == pytest.approx(want.risk, abs=1e-6)
            np.testing.assert_allclose(got.action, want.action, atol=1e-5)
            risks.append(got.risk)
    assert min(risks) < 0.5 < max(risks)  # both branches of the rule were exercised


def test_frozen_shield_noise_is_small_and_stays_in_bounds() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(32, 32)))
    recovery = RecoveryPolicy(OBS_DIM, ACT_DIM, LOW, HIGH, RecoveryConfig(hidden=(32, 32)))
    clean = frozen_shield(critic, recovery, eps_risk=-1.0)  # always overrides
    noisy = frozen_shield(critic, recovery, eps_risk=-1.0, noise_std=recovery.cfg.noise_std, seed=3)
    diffs = []
    for obs in observations():
        a = noisy(obs, np.zeros(ACT_DIM, np.float32)).action
        assert np.all(a >= LOW) and np.all(a <= HIGH)
        diffs.append(a - clean(obs, np.zeros(ACT_DIM, np.float32)).action)
    diffs = np.concatenate(diffs)
    assert 0.005 < diffs.std() < 0.02  # N(0, 0.01^2), clipped at the bounds


def test_warning_governor_slows_the_gait_on_warnings_and_never_calls_pi_rec(monkeypatch) -> None:
    """critic_governor (shield_rule.govern), torch and frozen alike: c * a_task is executed, nothing is overridden; a
    window with more warnings than the budget steps c down (not below min_scale), a quiet one steps it back up."""
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(32, 32)))
    recovery = RecoveryPolicy(OBS_DIM, ACT_DIM, LOW, HIGH, RecoveryConfig(hidden=(32, 32)))
    cfg = GovernorConfig(budget=0.1, rule="step", window=10, min_scale=0.85)
    obs, a_task = observations(1)[0], np.array([0.5, -1.0, 0.25], np.float32)
    with torch.no_grad():
        risk = critic.q_risk(torch.as_tensor(obs), torch.as_tensor(a_task)).item()
    shields = [Shield(critic, recovery, risk / 2, noise=False, governor=RiskGovernor(cfg))]  # every decision a warning
    shields.append(frozen_shield(critic, recovery, risk / 2))
    shields[1].governor = RiskGovernor(cfg)

    def no_recovery(*_args, **_kwargs):
        raise AssertionError("pi_rec was called")
    monkeypatch.setattr(recovery, "act", no_recovery)
    monkeypatch.setattr(shields[1], "recovery_action", no_recovery)
    for shield in shields:
        scales = []
        for _ in range(40):
            decision = shield(obs, a_task)
            assert not decision.overridden
            scales.append(float(decision.action[0] / a_task[0]))
            np.testing.assert_allclose(decision.action, scales[-1] * a_task, rtol=1e-6)
        assert scales[:10] == [1.0] * 10 and scales[10:20] == [pytest.approx(0.85)] * 10  # 4 steps down, at the floor
        assert scales[-1] == pytest.approx(0.85)
        shield.eps_risk = 1.0  # no more warnings: one step up per window
        ups = [float(shield(obs, a_task).action[0] / a_task[0]) for _ in range(20)]
        assert ups[0] == pytest.approx(0.85) and ups[-1] == pytest.approx(0.9)
    monkeypatch.undo()
    paper = Shield(critic, recovery, risk / 2, noise=False)  # no governor: the paper's override
    assert paper(obs, a_task).overridden


def test_a_nan_risk_counts_as_a_warning() -> None:
    """A broken critic (NaN) must not speed the gait up: govern counts it as a warning, as decide overrides on it."""
    governor = RiskGovernor(GovernorConfig(budget=0.1, rule="step", window=10, min_scale=0.85))
    for _ in range(10):
        decision = govern(float("nan"), 0.1, np.ones(3, np.float32), governor)
        assert not decision.overridden
    assert governor.scale == pytest.approx(0.85)
    assert decide(float("nan"), 0.1, np.ones(3, np.float32), lambda: np.zeros(3, np.float32)).overridden
