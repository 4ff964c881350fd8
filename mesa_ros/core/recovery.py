"""Recovery policy pi_rec (paper sec. 4.1): deterministic, trained DDPG-style to descend Q_risk.

    L(psi) = mean_s Q_risk(s, pi_rec(s))  [+ bc_weight * mean_(s,a) |pi_rec(s) - a|^2 / act_dim]

(critic frozen, no entropy term). The bracket is ours, off by default (``recovery.bc_weight`` 0, the
paper and the reference): a behaviour-cloning term as TD3+BC's (Fujimoto & Gu 2021) that keeps pi_rec
near the actions of its data, where Q_risk was trained, instead of at the box corners where an
extrapolating critic is falsely low (measured: ``scripts/recovery_saturation.py``).

Not meta-learned; trained on the test-environment data in phase 2 and online in phase 3.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import RecoveryConfig
from mesa_ros.core.networks import Bounds, DeterministicActor
from mesa_ros.core.safety_critic import SafetyCritic


class RecoveryPolicy(nn.Module):
    """pi_rec(s) with its Adam optimiser; ``act`` adds the small Gaussian exploration noise."""

    def __init__(self, obs_dim: int, act_dim: int, low: Bounds, high: Bounds,
                 cfg: RecoveryConfig = RecoveryConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.recovery_policy = DeterministicActor(obs_dim, act_dim, cfg.hidden, low, high)
        self.reset_optimizer(cfg.lr)

    def forward(self, obs: Tensor) -> Tensor:
        """pi_rec(s), no noise."""
        return self.recovery_policy(obs)

    def reset_optimizer(self, lr: float) -> None:
        """Fresh Adam at ``lr`` (phase 2 and the baselines start their own optimiser)."""
        self.optimizer = torch.optim.Adam(self.recovery_policy.parameters(), lr=lr)

    def update(self, batch: Batch, critic: SafetyCritic) -> dict[str, float]:
        """One Adam step on L(psi) over the batch's states (and actions, with ``bc_weight``); gradients reach
        only pi_rec's parameters."""
        action = self.recovery_policy(batch.obs)
        loss = critic(batch.obs, action).mean()
        if self.cfg.bc_weight:
            loss = loss + self.cfg.bc_weight * (action - batch.action).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.recovery_policy.parameters()))
        self.optimizer.step()
        return {"recovery_loss": loss.item()}

    @torch.inference_mode()
    def act(self, obs: Tensor, noise: bool = True) -> Tensor:
        """pi_rec(s) (+ N(0, noise_std^2) when ``noise``), clipped to the action bounds."""
        action = self.recovery_policy(obs)
        if noise:
            action.add_(torch.randn_like(action), alpha=self.cfg.noise_std)
        return action.clamp_(self.recovery_policy.low, self.recovery_policy.high)
