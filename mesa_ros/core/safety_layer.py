"""The safety layer: Q_risk and pi_rec, what a safe method hands to phase 3, and its one update.

One update step (everywhere: the offline stages, phase 2, phase 3, the adaptation node): the critic
on a minibatch (``SafetyCritic.update``), then pi_rec on the same states against the updated critic
(``RecoveryPolicy.update``), as the reference's ``sac.py:174-208`` and ``run_multitask.py:660-666``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import GovernorConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy
from mesa_ros.core.shield import Shield


@dataclass
class SafetyLayer:
    """Q_risk and pi_rec."""

    critic: SafetyCritic
    recovery: RecoveryPolicy

    def modules(self) -> dict[str, nn.Module]:
        """Checkpoint modules by name."""
        return {"critic": self.critic, "recovery": self.recovery}

    def shield(self, eps_risk: float, noise: bool = True, governor: GovernorConfig | None = None) -> Shield:
        """The Recovery RL rule over this layer (live: later updates of the networks take effect), with a warning
        governor when ``governor.budget`` > 0 (``critic_governor``)."""
        return Shield(self.critic, self.recovery, eps_risk, noise=noise, governor=RiskGovernor.from_config(governor))

    def update(self, batch: Batch, task_policy: TaskPolicy) -> dict[str, float]:
        """One critic step on ``batch``, then one pi_rec step on its states."""
        return self.critic.update(batch, task_policy) | self.recovery.update(batch, self.critic)

    def nonfinite(self) -> str:
        """Comma-separated ``module.tensor`` names holding NaN or inf ('' when every weight is finite)."""
        return nonfinite(self.modules())

    def reset_optimizer(self, lr: float) -> None:
        """Fresh Adam at ``lr`` for both networks."""
        self.critic.reset_optimizer(lr)
        self.recovery.reset_optimizer(lr)


def nonfinite(modules: Mapping[str, nn.Module | Mapping[str, torch.Tensor]]) -> str:
    """Comma-separated ``module.tensor`` names of ``modules`` (modules or state dicts) holding NaN or inf."""
    return ", ".join(f"{name}.{key}" for name, module in modules.items()
                     for key, t in (module.state_dict() if isinstance(module, nn.Module) else module).items()
                     if t.is_floating_point() and not bool(torch.isfinite(t).all()))
