"""The Recovery RL shield (paper sec. 2.3): execute a_task unless it is too risky.

    a_exec = a_task          if Q_risk(s, a_task) <= eps_risk
             pi_rec(s)       otherwise

``Shield``: the rule (``shield_rule.decide``) over a live critic and recovery policy, one observation at a
time (numpy in, numpy out, pi_rec only evaluated when it is needed); with a warning governor
(``critic_governor``, ``shield_rule.govern``) the gait c * a_task instead of pi_rec.
"""
from __future__ import annotations

import numpy as np
import torch

from mesa_ros.core.config import ShieldConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.core.shield_rule import ShieldDecision, decide


class Shield:
    """Single-observation shield over a live critic and recovery policy (weights may change between calls)."""

    def __init__(self, critic: SafetyCritic, recovery: RecoveryPolicy, eps_risk: float = ShieldConfig.eps_risk,
                 noise: bool = True, governor: RiskGovernor | None = None) -> None:
        self.critic, self.recovery, self.eps_risk, self.noise = critic, recovery, eps_risk, noise
        self.governor = governor  # None: the paper's rule

    @property
    def scale(self) -> float:
        """c: the warning governor's action scale (1 without one)."""
        return 1.0 if self.governor is None else self.governor.scale

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        obs_t = torch.from_numpy(np.asarray(obs, dtype=np.float32))
        a_task_t = torch.from_numpy(np.asarray(a_task, dtype=np.float32))
        with torch.inference_mode():
            return decide(self.critic.q_risk(obs_t, a_task_t).item(), self.eps_risk, a_task_t.numpy(),
                          lambda: self.recovery.act(obs_t, noise=self.noise).numpy(), self.governor)
