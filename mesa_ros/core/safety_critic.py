"""Safety critic Q_risk (paper sec. 2.2): the discounted probability of a future constraint violation.

    y = c + (1 - c) * gamma_risk * Q_boot(s', a'),   a' ~ pi_task(s')
    L = MSE(Q_risk(s, a), y)

``risk_target`` is the one place the target is computed: the critic's own update, the MAML inner and
outer losses (``maml.py``) and phase 2 / the baselines (``adaptation.py``) all go through
``SafetyCritic.target_value``. ``critic_loss`` is functional (parameters passed in) so that MAML can
differentiate through it with ``torch.func``; the plain update calls it with the critic's own parameters.

Which network bootstraps (Q_boot), as the reference does (the paper does not say):
* offline stages (RRL pretraining, Multi-Task pooled training, MESA phase 1), inside ``offline()``:
  the *current* parameters (no gradient through the target). The reference's Recovery RL /
  Multi-Task update reads ``self.safety_critic(next_state, a')`` (``sac.py:139-142``), its MAML step a
  fresh ``deepcopy`` of the meta-parameters per task (``run_multitask.py:478``); its soft-updated
  target networks are never read there. A lagging target offline (tau 2e-4 from a random init) leaves
  Q_risk near 0.5 x gamma_risk^T far from any violation, above eps_risk, so the shield overrides
  every step (measured: docs/results.md).
* phases 2 and 3: the slow target network (tau 2e-4, ref ``run_multitask.py:633-653``), which starts as
  an exact copy of the critic (``sync_target``, also on leaving ``offline()``).

Phase 2 may instead regress on lambda-returns of the small test dataset's episodes (``lambda_returns``,
``adapt.td_lambda`` > 0; ours, off by default): the target network's one-step values mixed with the
episode's own outcome, so that a violation in the data raises the states before it at once instead of
over the hundreds of slow-target updates TD(0) would need.

``terminated`` is not used: in the MESA environments every termination is a violation (c = 1), and
the training datasets keep going after violations, so ``(1 - c)`` is the paper's whole mask.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import SafetyCriticConfig
from mesa_ros.core.networks import QRisk

if TYPE_CHECKING:
    from mesa_ros.core.dataset import TransitionDataset

TaskPolicy = Callable[[Tensor], Tensor]  # obs (N, obs_dim) -> actions (N, act_dim) of pi_task, no grad needed


def risk_target(cost: Tensor, q_next: Tensor, gamma_risk: float) -> Tensor:
    """y = c + (1 - c) * gamma_risk * Q_targ(s', a')."""
    return cost + (1.0 - cost) * gamma_risk * q_next


def critic_loss(q_risk: QRisk, params: Mapping[str, Tensor], obs: Tensor, action: Tensor, target: Tensor) -> Tensor:
    """MSE of Q_risk(s, a) (computed with ``params``) against ``target``; summed over twin heads."""
    risks = functional_call(q_risk, dict(params), (obs, action), {"all_heads": True})
    return (risks - target).square().flatten(1).mean(1).sum()


class SafetyCritic(nn.Module):
    """Q_risk with its soft-updated target network and Adam optimiser."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: SafetyCriticConfig = SafetyCriticConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.q_risk = QRisk(obs_dim, act_dim, cfg.hidden, cfg.twin, cfg.wlinear)
        self.q_risk_target = copy.deepcopy(self.q_risk).requires_grad_(False)
        self.bootstrap_current = False  # True inside ``offline()``
        self.reset_optimizer(cfg.lr)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        """Q_risk(s, a) in [0, 1] (max over heads when twin)."""
        return self.q_risk(obs, action)

    def reset_optimizer(self, lr: float) -> None:
        """Fresh Adam at ``lr`` (phase 2 and the baselines start their own optimiser)."""
        self.optimizer = torch.optim.Adam(self.q_risk.parameters(), lr=lr)

    @torch.no_grad()
    def target_value(self, batch: Batch, task_policy: TaskPolicy, current: bool | None = None) -> Tensor:
        """y for every transition of ``batch`` (any leading dims, e.g. (K, B) stacked tasks), bootstrapped
        from the current parameters when ``current`` (default: inside ``offline()``), else the target network."""
        current = self.bootstrap_current if current is None else current
        boot = self.q_risk if current else self.q_risk_target
        next_obs = batch.next_obs.reshape(-1, batch.next_obs.shape[-1])
        q_next = boot(next_obs, task_policy(next_obs)).reshape(batch.cost.shape)
        return risk_target(batch.cost, q_next, self.cfg.gamma_risk)

    def update(self, batch: Batch, task_policy: TaskPolicy) -> dict[str, float]:
        """One Adam step on the critic loss (against ``batch.target`` when it carries one, e.g. phase 2's
        lambda-returns, else ``target_value``), then the soft target update (none offline: no target is kept)."""
        target = batch.target if batch.target is not None else self.target_value(batch, task_policy)
        loss = critic_loss(self.q_risk, dict(self.q_risk.named_parameters()), batch.obs, batch.action, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if not self.bootstrap_current:
            self.soft_update()
        return {"critic_loss": loss.item()}

    @torch.no_grad()
    def soft_update(self) -> None:
        """theta_targ <- theta_targ + tau * (theta - theta_targ)."""
        for target, online in zip(self.q_risk_target.parameters(), self.q_risk.parameters()):
            target.lerp_(online, self.cfg.tau)

    @torch.no_grad()
    def sync_target(self) -> None:
        """theta_targ <- theta: the target network an exact copy of the critic (start of phase 2)."""
        self.q_risk_target.load_state_dict(self.q_risk.state_dict())

    @contextmanager
    def offline(self) -> Iterator[None]:
        """Inside: targets bootstrap from the current parameters (the offline stages, as the reference).
        On leaving normally: the target network becomes an exact copy of the critic. An exception (Ctrl-C
        inside a torch.func transform among them) leaves the target alone: the stage's result is discarded,
        and touching parameters while functorch unwinds would replace the exception with its own error."""
        self.bootstrap_current = True
        try:
            yield
        finally:
            self.bootstrap_current = False
        self.sync_target()


@torch.no_grad()
def lambda_returns(critic: SafetyCritic, data: TransitionDataset, task_policy: TaskPolicy, lam: float) -> Tensor:
    """G_t = c_t + (1 - c_t) gamma_risk [(1 - lam) Q_targ(s'_t, a') + lam G_{t+1}], a' ~ pi_task(s'_t), for every
    transition of ``data`` (float32, (N,)); G_{t+1} is the episode's next transition (same episode, next step),
    Q_targ(s'_t, a') where the data hold none (the episode's end by time limit or the data's cut). lam = 0 is
    ``target_value``'s TD(0) target; lam = 1 the Monte-Carlo discounted risk where an episode ends in a violation."""
    next_obs = torch.as_tensor(data.s_next, dtype=torch.float32)
    q_next = critic.q_risk_target(next_obs, task_policy(next_obs)).numpy().astype(np.float64)
    key = data.episode.astype(np.int64) * (int(data.step.max()) + 2) + data.step  # unique per transition
    order = np.argsort(key)
    at = np.minimum(np.searchsorted(key[order], key + 1), len(key) - 1)  # where (episode, step + 1) would sit
    successor = np.where(key[order][at] == key + 1, order[at], -1)
    g, c, gamma = q_next.copy(), data.c.astype(np.float64), critic.cfg.gamma_risk
    for step in np.unique(data.step)[::-1]:  # later steps first: G_{t+1} is ready when G_t needs it
        i = np.flatnonzero(data.step == step)
        later = np.where(successor[i] >= 0, g[np.maximum(successor[i], 0)], q_next[i])
        g[i] = c[i] + (1 - c[i]) * gamma * ((1 - lam) * q_next[i] + lam * later)
    return torch.as_tensor(g, dtype=torch.float32)
