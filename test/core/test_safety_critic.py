"""Safety critic: the target formula, sigmoid range, soft update, twin max, and ranking on 2-D navigation data."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mesa_ros.core import adaptation
from mesa_ros.core.batch import Batch
from mesa_ros.core.config import SafetyCriticConfig
from mesa_ros.core.networks import QRisk
from mesa_ros.core.safety_critic import SafetyCritic, critic_loss, risk_target

torch.set_num_threads(1)


def set_constant(q_risk: QRisk, prob: float) -> None:
    """Make every head output ``prob`` for all inputs (zero weights, last bias = logit(prob))."""
    with torch.no_grad():
        for p in q_risk.parameters():
            p.zero_()
        for head in q_risk.heads:
            head.layers[-1].bias.fill_(float(np.log(prob / (1 - prob))))


def make_batch(n: int, obs_dim: int = 3, act_dim: int = 2, cost: torch.Tensor | None = None) -> Batch:
    return Batch(obs=torch.randn(n, obs_dim), action=torch.rand(n, act_dim) * 2 - 1, reward=torch.zeros(n),
                 cost=(torch.rand(n) < 0.5).float() if cost is None else cost, next_obs=torch.randn(n, obs_dim),
                 terminated=torch.zeros(n))


def zero_policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(obs.shape[0], 2)


def test_target_formula_on_hand_made_values() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(8,), gamma_risk=0.8))
    set_constant(critic.q_risk_target, 0.25)
    batch = make_batch(4, cost=torch.tensor([1.0, 0.0, 1.0, 0.0]))
    y = critic.target_value(batch, zero_policy)
    # c = 1 -> 1 whatever Q_targ says; c = 0 -> gamma_risk * Q_targ(s', a') = 0.8 * 0.25
    torch.testing.assert_close(y, torch.tensor([1.0, 0.2, 1.0, 0.2]))
    torch.testing.assert_close(risk_target(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.9]), 0.65),
                               torch.tensor([0.325, 1.0]))


def test_target_uses_task_policy_action_at_next_state() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(16,)))
    batch = make_batch(8, cost=torch.zeros(8))
    calls: list[torch.Tensor] = []

    def task_policy(obs: torch.Tensor) -> torch.Tensor:
        calls.append(obs)
        return torch.ones(obs.shape[0], 2)

    y = critic.target_value(batch, task_policy)
    assert len(calls) == 1 and torch.equal(calls[0], batch.next_obs)
    expected = 0.8 * critic.q_risk_target(batch.next_obs, torch.ones(8, 2))
    torch.testing.assert_close(y, expected)
    assert not y.requires_grad


def test_risk_is_a_probability_even_for_extreme_inputs() -> None:
    torch.manual_seed(0)
    q_risk = QRisk(3, 2, (32, 32), twin=True)
    risk = q_risk(1e4 * torch.randn(500, 3), 1e4 * torch.randn(500, 2))
    assert risk.shape == (500,)
    assert bool(((risk >= 0) & (risk <= 1)).all())
    assert risk.min() < 0.01 and risk.max() > 0.99  # saturates at both ends


def test_twin_heads_combine_with_max() -> None:
    torch.manual_seed(0)
    q_risk = QRisk(3, 2, (16,), twin=True)
    obs, act = torch.randn(64, 3), torch.randn(64, 2)
    heads = q_risk(obs, act, all_heads=True)
    assert heads.shape == (2, 64)
    assert not torch.allclose(heads[0], heads[1])
    torch.testing.assert_close(q_risk(obs, act), heads.max(dim=0).values)


def test_twin_loss_trains_each_head_against_the_target() -> None:
    torch.manual_seed(0)
    q_risk = QRisk(3, 2, (16,), twin=True)
    obs, act, target = torch.randn(32, 3), torch.randn(32, 2), torch.rand(32)
    heads = q_risk(obs, act, all_heads=True)
    expected = ((heads[0] - target) ** 2).mean() + ((heads[1] - target) ** 2).mean()
    torch.testing.assert_close(critic_loss(q_risk, dict(q_risk.named_parameters()), obs, act, target), expected)


def test_soft_update_moves_target_by_tau() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(16,), tau=0.1))
    with torch.no_grad():
        for p in critic.q_risk.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in critic.q_risk_target.parameters()]
    critic.soft_update()
    for old, new, online in zip(before, critic.q_risk_target.parameters(), critic.q_risk.parameters()):
        torch.testing.assert_close(new, old + 0.1 * (online - old))
        assert not torch.allclose(new, old)


def test_update_takes_one_adam_step_and_soft_updates() -> None:
    torch.manual_seed(0)
    cfg = SafetyCriticConfig(hidden=(16,), tau=0.5, lr=1e-2)
    critic = SafetyCritic(3, 2, cfg)
    batch = make_batch(64)
    online_before = [p.clone() for p in critic.q_risk.parameters()]
    target_before = [p.clone() for p in critic.q_risk_target.parameters()]
    metrics = critic.update(batch, zero_policy)
    assert set(metrics) == {"critic_loss"} and metrics["critic_loss"] > 0
    for p0, p in zip(online_before, critic.q_risk.parameters()):
        assert 0 < (p - p0).abs().max() <= 1.01e-2  # Adam's first step moves each weight by <= lr
    for t0, t, p in zip(target_before, critic.q_risk_target.parameters(), critic.q_risk.parameters()):
        torch.testing.assert_close(t, t0 + 0.5 * (p.detach() - t0))


def navigation_data(n: int, rng: np.random.Generator) -> Batch:
    """Random-policy transitions of a 2-D point around an obstacle rectangle; c = 1 when s' is inside it."""
    obs = rng.uniform([-6, -4], [6, 4], size=(n, 2))
    action = rng.uniform(-1, 1, size=(n, 2))
    next_obs = obs + action + 0.05 * rng.standard_normal((n, 2))
    lo, hi = np.array([-1.0, -1.5]), np.array([1.0, 1.5])
    cost = np.all((next_obs >= lo) & (next_obs <= hi), axis=1)
    f = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return Batch(f(obs), f(action), f(np.zeros(n)), f(cost), f(next_obs), f(cost))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def test_roc_auc_helper() -> None:
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5


def test_trained_critic_ranks_unsafe_transitions_above_safe_ones() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, held_out = navigation_data(20_000, rng), navigation_data(4_000, rng)
    assert 0.03 < train.cost.mean() < 0.2
    critic = SafetyCritic(2, 2, SafetyCriticConfig(hidden=(64, 64), tau=0.005))

    def random_policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.rand(obs.shape[0], 2) * 2 - 1

    def sample(batch_size: int) -> Batch:
        idx = torch.from_numpy(rng.integers(0, len(train), batch_size))
        return train.rows(idx)

    with torch.no_grad():
        auc_before = roc_auc(critic(held_out.obs, held_out.action).numpy(), held_out.cost.numpy())
    with critic.offline():
        metrics = adaptation.train(critic, sample, random_policy, steps=800, lr=3e-3, batch_size=256)
    assert set(metrics) == {"mean_critic_loss", "last_critic_loss"}
    with torch.no_grad():
        auc_after = roc_auc(critic(held_out.obs, held_out.action).numpy(), held_out.cost.numpy())
    assert auc_after > 0.9, (auc_before, auc_after)
    assert auc_after > auc_before


def test_critic_module_is_plain_nn() -> None:
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(8,)))
    assert isinstance(critic.q_risk, nn.Module)
    assert set(critic.state_dict()) >= {f"q_risk_target.{k}" for k in critic.q_risk.state_dict()}
    assert not any(p.requires_grad for p in critic.q_risk_target.parameters())


def test_wlinear_layer_is_the_references_generated_linear_map() -> None:
    """ref run_multitask.py:43-68: theta = fc(z); w = theta[:in*out].view(in, out); y = x @ w + theta[in*out:]."""
    from mesa_ros.core.networks import WLinear

    torch.manual_seed(0)
    layer, x = WLinear(5, 3), torch.randn(4, 5)
    theta = layer.fc(layer.z)
    want = x @ theta[:15].view(5, 3) + theta[15:]
    torch.testing.assert_close(torch.nn.functional.linear(x, layer.weight, layer.bias), want)
    assert layer.z.shape == (100,) and sum(p.numel() for p in layer.parameters()) == 100 + 100 * 18 + 18
    critic = SafetyCritic(5, 2, SafetyCriticConfig(hidden=(8,), wlinear=True))
    assert all(isinstance(m, WLinear) for m in critic.q_risk.heads[0].layers)


def test_offline_syncs_the_target_on_a_normal_exit_and_lets_an_interrupt_through_untouched() -> None:
    """Ctrl-C inside a torch.func transform can leave the modules mid-swap; the offline stage must then re-raise
    the KeyboardInterrupt itself (the CLI's exit 130), not touch the parameters on the way out."""
    critic = SafetyCritic(3, 2, SafetyCriticConfig(hidden=(8,)))
    with torch.no_grad():
        for p in critic.q_risk.parameters():
            p.add_(1.0)
    target_before = {k: v.clone() for k, v in critic.q_risk_target.state_dict().items()}
    try:
        with critic.offline():
            assert critic.bootstrap_current
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert not critic.bootstrap_current
    assert all(torch.equal(target_before[k], v) for k, v in critic.q_risk_target.state_dict().items())
    with critic.offline():
        pass
    assert all(torch.equal(critic.q_risk.state_dict()[k], v) for k, v in critic.q_risk_target.state_dict().items())
