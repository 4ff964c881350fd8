"""Frozen numpy copies of the networks for the control loop: one observation at a time, fixed weights.

A torch call on a single observation costs tens of microseconds of dispatch for a few microseconds
of arithmetic; the nodes answer one state at a time with weights that only change when new ones are
installed, so they evaluate these copies (made again at each install) instead. Same numbers as the
torch modules to float32 rounding (test/core/test_inference.py); bench/bench_graph.py measures both.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from mesa_ros.core.networks import QRisk
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.sac import Actor
from mesa_ros.core.shield import ShieldDecision, decide


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32, copy=True)


class NumpyMLP:
    """A Linear-ReLU stack (``networks.MLP``, also with generated ``WLinear`` weights, or ``sac.mlp``): ReLU
    after every linear layer but the last."""

    def __init__(self, module: nn.Module) -> None:
        linears = module.layers if hasattr(module, "layers") else [m for m in module.modules() if isinstance(m, nn.Linear)]
        self.layers = [(np.ascontiguousarray(_numpy(m.weight).T), _numpy(m.bias)) for m in linears]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        *hidden, (w_out, b_out) = self.layers
        for w, b in hidden:
            x = np.maximum(x @ w + b, 0.0)
        return x @ w_out + b_out


class FrozenPolicy:
    """pi_task's deterministic action tanh(mean(s)) * scale + bias (``sac.Actor`` with ``deterministic``)."""

    def __init__(self, actor: Actor) -> None:
        self.net = NumpyMLP(actor.net)
        self.scale, self.bias = _numpy(actor.action_scale), _numpy(actor.action_bias)
        self.act_dim = len(self.scale)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        mean = self.net(np.asarray(obs, dtype=np.float32))[..., :self.act_dim]
        return np.tanh(mean) * self.scale + self.bias


class FrozenShield:
    """``shield.Shield`` on frozen copies of Q_risk and pi_rec; the recovery noise from a numpy generator."""

    def __init__(self, q_risk: QRisk, recovery: RecoveryPolicy, eps_risk: float, noise: bool = True,
                 seed: int = 0) -> None:
        self.heads = [NumpyMLP(head) for head in q_risk.heads]
        actor = recovery.recovery_policy
        self.recovery = NumpyMLP(actor.net)
        self.scale, self.bias = _numpy(actor.scale), _numpy(actor.bias)
        self.low, self.high = _numpy(actor.low), _numpy(actor.high)
        self.noise_std = recovery.cfg.noise_std if noise else 0.0
        self.eps_risk = eps_risk
        self.rng = np.random.default_rng(seed)

    def q_risk(self, obs: np.ndarray, a_task: np.ndarray) -> float:
        """Q_risk(s, a): sigmoid of each head, the max over twin heads."""
        x = np.concatenate((obs, a_task)).astype(np.float32, copy=False)
        logit = max(float(head(x)[0]) for head in self.heads)
        return 1.0 / (1.0 + np.exp(-logit))

    def recovery_action(self, obs: np.ndarray) -> np.ndarray:
        """pi_rec(s) (+ N(0, noise_std^2)), clipped to the action bounds."""
        action = np.tanh(self.recovery(obs)) * self.scale + self.bias
        if self.noise_std:
            action = action + self.rng.normal(0.0, self.noise_std, action.shape).astype(np.float32)
        return np.clip(action, self.low, self.high)

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        obs = np.asarray(obs, dtype=np.float32)
        a_task = np.asarray(a_task, dtype=np.float32)
        return decide(self.q_risk(obs, a_task), self.eps_risk, a_task, lambda: self.recovery_action(obs))
