"""Soft Actor-Critic: the task policy pi_task of MESA and all comparisons (paper sec. 5; Haarnoja et al.).

CleanRL's ``sac_continuous_action`` with the reference's settings (``SACConfig``): a squashed
Gaussian actor, twin soft Q critics with Polyak-averaged targets, a fixed entropy temperature
alpha, and one actor update per critic update.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import SACConfig

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # CleanRL / SpinningUp bounds of the actor's log std
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """Linear-ReLU layers of widths ``hidden`` and a linear output layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class SoftQNetwork(nn.Module):
    """Q(s, a) -> (...,)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action], dim=-1)).squeeze(-1)


class Actor(nn.Module):
    """Gaussian policy squashed by tanh and scaled to the action bounds [low, high]."""

    def __init__(self, obs_dim: int, low: np.ndarray, high: np.ndarray, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, 2 * len(low))  # mean and log std
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of the Gaussian before squashing."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1.0)
        return mean, log_std

    def _squash(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * self.action_scale + self.action_bias

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised a ~ pi(.|s) and log pi(a|s) (with the tanh and scaling change of variables)."""
        mean, log_std = self(obs)
        noise = torch.randn_like(mean)
        x = mean + log_std.exp() * noise
        y = torch.tanh(x)
        log_prob = -0.5 * noise.pow(2) - log_std - _HALF_LOG_2PI
        log_prob = log_prob - torch.log(self.action_scale * (1.0 - y.pow(2)) + 1e-6)
        return y * self.action_scale + self.action_bias, log_prob.sum(dim=-1)

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """An action without log-probability: the squashed mean, or a sample."""
        mean, log_std = self(obs)
        if deterministic:
            return self._squash(mean)
        return self._squash(mean + log_std.exp() * torch.randn_like(mean))


class SAC:
    """SAC agent: ``act`` in the env loop, ``update`` on replay minibatches (``Batch.action`` = a_task)."""

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        cfg: SACConfig = SACConfig(),
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise ValueError(f"SAC needs a 1-D Box action space, got {action_space}")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"SAC needs a 1-D Box observation space, got {observation_space}")
        low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"SAC needs finite action bounds, got low={low}, high={high}")
        self.cfg = cfg
        self.device = torch.device(device)
        obs_dim, act_dim = observation_space.shape[0], action_space.shape[0]
        self.actor = Actor(obs_dim, low, high, cfg.hidden)
        self.qf1 = SoftQNetwork(obs_dim, act_dim, cfg.hidden)
        self.qf2 = SoftQNetwork(obs_dim, act_dim, cfg.hidden)
        self.qf1_target = copy.deepcopy(self.qf1).requires_grad_(False)
        self.qf2_target = copy.deepcopy(self.qf2).requires_grad_(False)
        #: Every parameter and buffer, as one plain module (flat state dict keys like "actor.net.0.weight").
        self.networks = nn.ModuleDict(
            {
                "actor": self.actor,
                "qf1": self.qf1,
                "qf2": self.qf2,
                "qf1_target": self.qf1_target,
                "qf2_target": self.qf2_target,
            }
        ).to(self.device)
        self.q_optimizer = torch.optim.Adam([*self.qf1.parameters(), *self.qf2.parameters()], lr=cfg.lr)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)

    # -- acting --------------------------------------------------------------------------------
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Action (float32 numpy) for one observation (obs_dim,) or a batch (B, obs_dim)."""
        with torch.inference_mode():
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            return self.actor.act(obs_t, deterministic).cpu().numpy()

    @torch.no_grad()
    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """a ~ pi_task(.|s) for a tensor of observations, without gradient (the critic's a' ~ pi_task(s'))."""
        return self.actor.act(obs)

    @torch.no_grad()
    def mean_policy(self, obs: torch.Tensor) -> torch.Tensor:
        """pi_task's deterministic action for a tensor of observations: what the deployed task policy executes."""
        return self.actor.act(obs, deterministic=True)

    # -- learning ------------------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step of both critics and the actor, then a soft target update."""
        cfg = self.cfg
        b = batch.to(self.device)
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(b.next_obs)
            q_next = torch.min(self.qf1_target(b.next_obs, next_action), self.qf2_target(b.next_obs, next_action))
            target_q = b.reward + (1.0 - b.terminated) * cfg.gamma * (q_next - cfg.alpha * next_log_prob)
        q1, q2 = self.qf1(b.obs, b.action), self.qf2(b.obs, b.action)
        qf1_loss, qf2_loss = F.mse_loss(q1, target_q), F.mse_loss(q2, target_q)
        self.q_optimizer.zero_grad()
        (qf1_loss + qf2_loss).backward()
        self.q_optimizer.step()

        action, log_prob = self.actor.sample(b.obs)
        q_pi = torch.min(self.qf1(b.obs, action), self.qf2(b.obs, action))
        actor_loss = (cfg.alpha * log_prob - q_pi).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()

        with torch.no_grad():
            for net, target in ((self.qf1, self.qf1_target), (self.qf2, self.qf2_target)):
                for p, p_target in zip(net.parameters(), target.parameters()):
                    p_target.lerp_(p, cfg.tau)
        return {
            "qf1_loss": qf1_loss.item(),
            "qf2_loss": qf2_loss.item(),
            "q1": q1.mean().item(),
            "actor_loss": actor_loss.item(),
            "entropy": -log_prob.mean().item(),
        }

    # -- parameters ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """All network parameters and buffers (flat ``nn.Module`` state dict; optimizers excluded)."""
        return self.networks.state_dict()

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load ``state_dict()`` output; raises ``RuntimeError`` on missing keys or other shapes."""
        self.networks.load_state_dict(state_dict)
