"""Shield rule (eps_risk) and the recovery policy trained against a fixed critic."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import RecoveryConfig, SafetyCriticConfig
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.core.shield import Shield

torch.set_num_threads(1)
OBS_DIM, ACT_DIM = 4, 2


def constant_risk_critic(risk: float) -> SafetyCritic:
    """A real critic whose Q_risk is ``risk`` everywhere (zero weights, output bias = logit(risk))."""
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(16, 16)))
    with torch.no_grad():
        for p in critic.q_risk.parameters():
            p.zero_()
        critic.q_risk.heads[0].layers[-1].bias.fill_(float(np.log(risk / (1 - risk))))
    return critic


def recovery_policy(seed: int = 0) -> RecoveryPolicy:
    torch.manual_seed(seed)
    return RecoveryPolicy(OBS_DIM, ACT_DIM, low=[-1.0, -2.0], high=[1.0, 2.0], cfg=RecoveryConfig(hidden=(16, 16)))


@pytest.mark.parametrize("risk, overridden", [(0.05, False), (0.0999, False), (0.1001, True), (0.9, True)])
def test_single_observation_shield_overrides_exactly_above_eps_risk(risk: float, overridden: bool) -> None:
    recovery = recovery_policy()
    guard = Shield(constant_risk_critic(risk), recovery, eps_risk=0.1, noise=False)
    obs = np.linspace(-1, 1, OBS_DIM, dtype=np.float32)
    a_task = np.array([0.3, -0.7], dtype=np.float32)
    decision = guard(obs, a_task)
    assert decision.overridden is overridden
    assert decision.risk == pytest.approx(risk, abs=1e-6)
    expected = recovery(torch.from_numpy(obs)).detach().numpy() if overridden else a_task
    np.testing.assert_allclose(decision.action, expected, rtol=1e-6)
    assert decision.action.dtype == np.float32 and decision.action.shape == (ACT_DIM,)


def test_single_observation_shield_adds_bounded_recovery_noise() -> None:
    recovery = recovery_policy()
    guard = Shield(constant_risk_critic(0.9), recovery, eps_risk=0.1, noise=True)
    obs = np.zeros(OBS_DIM, dtype=np.float32)
    clean = recovery(torch.from_numpy(obs)).detach().numpy()
    actions = np.stack([guard(obs, np.zeros(ACT_DIM, dtype=np.float32)).action for _ in range(400)])
    noise = actions - clean
    assert 0.005 < noise.std() < 0.02  # sigma 0.01 (RecoveryConfig.noise_std)
    assert np.all(actions >= [-1.0, -2.0]) and np.all(actions <= [1.0, 2.0])


def test_recovery_policy_lowers_risk_against_a_fixed_critic() -> None:
    torch.manual_seed(0)
    # A critic fitted to a known one-step risk (gamma_risk = 0): c = 1 iff s_0 + a_0 > 0.
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(32, 32), gamma_risk=0.0, lr=1e-2))
    obs = torch.randn(1024, OBS_DIM)
    for _ in range(200):
        o, a = obs[torch.randint(0, 1024, (128,))], torch.rand(128, ACT_DIM) * 2 - 1
        cost = (o[:, 0] + a[:, 0] > 0).float()
        critic.update(Batch(o, a, torch.zeros(128), cost, o, cost), lambda s: torch.zeros(s.shape[0], ACT_DIM))
    critic_before = {k: v.clone() for k, v in critic.state_dict().items()}
    critic.optimizer.zero_grad(set_to_none=True)

    recovery = RecoveryPolicy(OBS_DIM, ACT_DIM, -1.0, 1.0, RecoveryConfig(hidden=(32, 32), lr=3e-3))
    with torch.no_grad():
        risk_random = critic(obs, torch.rand(1024, ACT_DIM) * 2 - 1).mean()
        risk_before = critic(obs, recovery(obs)).mean()
    for _ in range(200):
        o = obs[torch.randint(0, 1024, (128,))]
        metrics = recovery.update(Batch(o, torch.zeros(128, ACT_DIM), torch.zeros(128), torch.zeros(128), o,
                                        torch.zeros(128)), critic)
    with torch.no_grad():
        risk_after = critic(obs, recovery.act(obs, noise=True)).mean()
    a_rec = recovery.act(obs, noise=False)
    assert set(metrics) == {"recovery_loss"}
    assert risk_after < 0.6 * risk_random and risk_after < 0.6 * risk_before, (risk_random, risk_before, risk_after)
    assert a_rec[:, 0].mean() < -0.5  # it learned to push a_0 down, away from the violation
    # the critic is frozen for this step: unchanged and without gradients
    for k, v in critic.state_dict().items():
        assert torch.equal(v, critic_before[k]), k
    assert all(p.grad is None for p in critic.parameters())


@pytest.mark.parametrize(("bc_weight", "expect"), [(0.0, lambda a0: a0 < -0.5), (5.0, lambda a0: abs(a0 - 0.5) < 0.15)])
def test_the_behaviour_cloning_term_keeps_pi_rec_at_the_data_actions(bc_weight: float, expect) -> None:
    """The critic prefers a_0 -> -1; the data's actions are all +0.5: without the term pi_rec goes to the box
    edge (the paper's rule), with a large one it stays where the data is."""
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(32, 32), gamma_risk=0.0, lr=1e-2))
    obs = torch.randn(512, OBS_DIM)
    for _ in range(200):
        o, a = obs[torch.randint(0, 512, (128,))], torch.rand(128, ACT_DIM) * 2 - 1
        cost = (a[:, 0] > -0.5).float()
        critic.update(Batch(o, a, torch.zeros(128), cost, o, cost), lambda s: torch.zeros(s.shape[0], ACT_DIM))
    recovery = RecoveryPolicy(OBS_DIM, ACT_DIM, -1.0, 1.0, RecoveryConfig(hidden=(32, 32), lr=3e-3,
                                                                            bc_weight=bc_weight))
    data_action = torch.full((128, ACT_DIM), 0.5)
    for _ in range(300):
        o = obs[torch.randint(0, 512, (128,))]
        recovery.update(Batch(o, data_action, torch.zeros(128), torch.zeros(128), o, torch.zeros(128)), critic)
    a0 = recovery.act(obs, noise=False)[:, 0].mean().item()
    assert expect(a0), a0


def test_safety_layer_names_its_non_finite_weights() -> None:
    from mesa_ros.core.safety_layer import SafetyLayer
    layer = SafetyLayer(SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8,))),
                        RecoveryPolicy(OBS_DIM, ACT_DIM, -1.0, 1.0, RecoveryConfig(hidden=(8,))))
    assert layer.nonfinite() == ""
    name, param = next(iter(layer.recovery.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    assert layer.nonfinite() == f"recovery.{name}"
