"""CARL's model and planner (Zhang et al. 2020, "Cautious Adaptation for RL in Safety-Critical Settings"; the
MESA paper's model-based comparison): a probabilistic ensemble dynamics model (PETS) and a risk-averse CEM
planner. Work in progress for issue #18: the experiment runner does not use them yet.

Model (PETS, Chua et al. 2018): ``E`` MLPs trained together (weights of shape (E, in, out), one batched pass),
each outputting a Gaussian over s' - s, mean mu_e(s, a) and log-variance bounded softly between learned
limits; each member sees its own bootstrap of the data; loss: Gaussian negative log-likelihood (+ a small
penalty on the limits). Inputs and targets standardised on the training data.

Planner (CARL (State)): CEM over action sequences a_{0:H-1}; every candidate is propagated as ``P``
particles, particle p following member p mod E for the whole horizon (PETS' TS-infinity) and sampling from
its Gaussian; a candidate's score is the particles' mean predicted return minus ``risk_weight`` times the
share of particles that enter a constraint violation (the probability of catastrophe across the ensemble,
the CARL paper's state-based risk aversion). The ensemble's disagreement is the uncertainty that makes a
cautious plan. Everything (candidates x particles x horizon) runs as batched tensor passes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

# (states (M, S), actions (M, A), member index (M,)) -> next states (M, S): a learned ensemble or a known model
StepFn = Callable[[Tensor, Tensor, Tensor], Tensor]
RewardFn = Callable[[Tensor, Tensor], Tensor]  # (states, actions) -> reward (M,)
ViolationFn = Callable[[Tensor], Tensor]  # next states -> violated (M,) bool


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers applied in one batched matmul: x (E, N, in) -> (E, N, out)."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(members, in_dim, out_dim) / np.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(members, 1, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class ProbabilisticEnsemble(nn.Module):
    """E Gaussian MLPs over s' - s given (s, a), trained and evaluated together."""

    def __init__(self, obs_dim: int, act_dim: int, members: int = 5, hidden: tuple[int, ...] = (200, 200)) -> None:
        super().__init__()
        dims = (obs_dim + act_dim, *hidden)
        self.members, self.obs_dim = members, obs_dim
        self.hidden = nn.ModuleList(EnsembleLinear(members, i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.out = EnsembleLinear(members, dims[-1], 2 * obs_dim)
        self.max_logvar = nn.Parameter(torch.full((obs_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((obs_dim,), -10.0))
        for name, size in (("x_mean", obs_dim + act_dim), ("x_std", obs_dim + act_dim), ("y_mean", obs_dim),
                           ("y_std", obs_dim)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))

    def forward(self, s: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log-variance) of the standardised s' - s, each (E, N, obs_dim), for inputs (E, N, .)."""
        x = (torch.cat([s, a], -1) - self.x_mean) / self.x_std
        for layer in self.hidden:
            x = F.silu(layer(x))
        mean, logvar = self.out(x).chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        return mean, self.min_logvar + F.softplus(logvar - self.min_logvar)

    def step(self, s: Tensor, a: Tensor, member: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Sample s' for each row from its member's Gaussian (rows grouped by member in one batched pass)."""
        order = torch.argsort(member)
        counts = torch.bincount(member, minlength=self.members)
        if counts.min() != counts.max():
            raise ValueError("step needs the same number of rows per member (particles = a multiple of E)")
        n = int(counts[0])
        mean, logvar = self(s[order].view(self.members, n, -1), a[order].view(self.members, n, -1))
        noise = torch.randn(mean.shape, generator=generator)
        delta = (mean + noise * (0.5 * logvar).exp()).view(-1, self.obs_dim) * self.y_std + self.y_mean
        out = torch.empty_like(s)
        out[order] = s[order] + delta
        return out


@dataclass(frozen=True)
class EnsembleConfig:
    members: int = 5  # PETS / CARL: 5
    hidden: tuple[int, ...] = (200, 200)  # PETS: 3-4 x 200 (CPU-scaled)
    lr: float = 1e-3
    batch_size: int = 256
    steps: int = 2000
    weight_decay: float = 1e-5


def fit_ensemble(s: np.ndarray, a: np.ndarray, s_next: np.ndarray, cfg: EnsembleConfig = EnsembleConfig(),
                 seed: int = 0, model: ProbabilisticEnsemble | None = None) -> ProbabilisticEnsemble:
    """Train (or, given ``model``, continue training: CARL's adaptation) on transitions, each member on its own
    bootstrap; Gaussian NLL of the standardised s' - s."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = np.concatenate([s, a], 1), s_next - s
    if model is None:
        model = ProbabilisticEnsemble(s.shape[1], a.shape[1], cfg.members, cfg.hidden)
        for name, value in (("x_mean", x.mean(0)), ("x_std", x.std(0) + 1e-6), ("y_mean", y.mean(0)),
                            ("y_std", y.std(0) + 1e-6)):
            getattr(model, name).copy_(torch.as_tensor(value, dtype=torch.float32))
    s_t, a_t = torch.as_tensor(s, dtype=torch.float32), torch.as_tensor(a, dtype=torch.float32)
    y_t = (torch.as_tensor(y, dtype=torch.float32) - model.y_mean) / model.y_std
    boot = rng.integers(0, len(s), (model.members, len(s)))
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.steps):
        idx = torch.as_tensor(boot[np.arange(model.members)[:, None], rng.integers(0, len(s), (model.members,
                                                                                              cfg.batch_size))])
        mean, logvar = model(s_t[idx], a_t[idx])
        nll = ((mean - y_t[idx]) ** 2 * (-logvar).exp() + logvar).mean()
        loss = nll + 0.01 * (model.max_logvar.sum() - model.min_logvar.sum())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


@dataclass(frozen=True)
class PlannerConfig:
    horizon: int = 15  # CARL / PETS: 15-30
    population: int = 400  # PETS: 400-500
    elites: int = 40
    iterations: int = 5
    particles: int = 20  # PETS: 20
    risk_weight: float = 100.0  # CARL (State): penalty on the probability of catastrophe
    alpha: float = 0.1  # CEM smoothing of mean and std


class RiskAverseCEM:
    """Plans ``PlannerConfig.horizon`` actions through ``step``; ``act`` returns the first action of the plan."""

    def __init__(self, step: StepFn, reward: RewardFn, violation: ViolationFn, low: np.ndarray, high: np.ndarray,
                 members: int, cfg: PlannerConfig = PlannerConfig(), seed: int = 0) -> None:
        if cfg.particles % members:
            raise ValueError(f"particles ({cfg.particles}) must be a multiple of the ensemble size ({members})")
        self.step, self.reward, self.violation, self.cfg, self.members = step, reward, violation, cfg, members
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.generator = torch.Generator().manual_seed(seed)
        self.plan = ((self.low + self.high) / 2).repeat(cfg.horizon, 1)  # warm start, shifted each step

    @torch.no_grad()
    def scores(self, s0: np.ndarray, candidates: Tensor) -> Tensor:
        """Mean predicted return minus risk_weight x the share of particles that hit a violation, per candidate."""
        n, p = len(candidates), self.cfg.particles
        states = torch.as_tensor(s0, dtype=torch.float32).repeat(n * p, 1)
        member = torch.arange(p).repeat(n) % self.members
        ret, hit = torch.zeros(n * p), torch.zeros(n * p, dtype=torch.bool)
        for t in range(candidates.shape[1]):
            actions = candidates[:, t].repeat_interleave(p, 0)
            ret += self.reward(states, actions)  # after a violation too: ending early must not pay
            states = self.step(states, actions, member)
            hit |= self.violation(states)
        return ret.view(n, p).mean(1) - self.cfg.risk_weight * hit.view(n, p).float().mean(1)

    @torch.no_grad()
    def act(self, s0: np.ndarray) -> np.ndarray:
        c = self.cfg
        mean, std = self.plan.clone(), ((self.high - self.low) / 2).repeat(c.horizon, 1)
        for _ in range(c.iterations):
            noise = torch.randn((c.population, *mean.shape), generator=self.generator)
            candidates = torch.clamp(mean + noise * std, self.low, self.high)
            elite = candidates[torch.topk(self.scores(s0, candidates), c.elites).indices]
            mean = c.alpha * mean + (1 - c.alpha) * elite.mean(0)
            std = c.alpha * std + (1 - c.alpha) * elite.std(0)
        self.plan = torch.cat([mean[1:], mean[-1:]])
        return mean[0].numpy().astype(np.float64)
