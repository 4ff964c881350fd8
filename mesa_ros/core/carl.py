"""CARL's model and planner (Zhang et al. 2020, "Cautious Adaptation for RL in Safety-Critical Settings"; the
MESA paper's model-based comparison; ref: ``jesbu1/carl``): a probabilistic ensemble dynamics model with a
catastrophe head (PETS + CARL (State)) and a risk-averse CEM planner. ``core/carl_agent.py`` trains and runs them.

Model (PETS, Chua et al. 2018; ref ``config/ensemble_model.py``, ``MPC.py:197-250``): ``E`` MLPs trained
together (weights of shape (E, in, out), one batched pass), each outputting a Gaussian over s' - s (mean and a
log-variance bounded softly between learned limits) and a catastrophe logit for the transition (CARL's
"safety indicator": did (s, a) lead to a violation); each member sees its own bootstrap of the data. Loss:
Gaussian negative log-likelihood of the standardised s' - s, plus a small penalty on the limits, plus binary
cross-entropy of the catastrophe logit weighted by #safe / #violating (ref ``MPC.py:215-222``). Inputs and
targets are standardised on the data the model is first fitted on.

Planner (CARL (State); ref ``MPC.py:324-366``): CEM over action sequences a_{0:H-1}; every candidate is propagated
as ``P`` particles, particle p following member p mod E for the whole horizon (PETS' TS-infinity) and sampling
from its Gaussian. A particle's cost sums, over the horizon, -r(s, a, s') plus ``catastrophe_cost`` at every
step whose predicted catastrophe probability exceeds ``catastrophe_threshold`` (only when risk-averse: the ref
plans risk-neutrally in the source environments and risk-averse in the target one); a candidate's cost is the
mean over its particles. Members that disagree about a catastrophe thus raise the expected cost of a plan in
proportion to their share: the caution. Candidates x particles x horizon run as batched tensor passes.
Differences from the ref: the reward is the environment's own (no extra action cost), and particles keep
collecting reward after a predicted catastrophe (as the ref's).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mesa_ros.core.dataset import TransitionDataset, concatenate

# (states (M, S), actions (M, A), member index (M,)) -> (next states (M, S), catastrophe probability (M,)):
# a learned ensemble (``ProbabilisticEnsemble.step``) or a known model
StepFn = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
RewardFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (states, actions, next states) -> reward (M,)


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers applied in one batched matmul: x (E, N, in) -> (E, N, out)."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(members, in_dim, out_dim) / np.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(members, 1, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class ProbabilisticEnsemble(nn.Module):
    """E Gaussian MLPs over s' - s, with a catastrophe logit each, given (s, a); trained and evaluated together."""

    def __init__(self, obs_dim: int, act_dim: int, members: int = 5, hidden: tuple[int, ...] = (200, 200)) -> None:
        super().__init__()
        dims = (obs_dim + act_dim, *hidden)
        self.members, self.obs_dim, self.act_dim = members, obs_dim, act_dim
        self.hidden = nn.ModuleList(EnsembleLinear(members, i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.out = EnsembleLinear(members, dims[-1], 2 * obs_dim + 1)
        self.max_logvar = nn.Parameter(torch.full((obs_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((obs_dim,), -10.0))
        for name, size in (("x_mean", obs_dim + act_dim), ("x_std", obs_dim + act_dim), ("y_mean", obs_dim),
                           ("y_std", obs_dim)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))

    def forward(self, s: Tensor, a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(mean, log-variance) of the standardised s' - s, each (E, N, obs_dim), and the catastrophe logit
        (E, N), for inputs (E, N, .)."""
        x = (torch.cat([s, a], -1) - self.x_mean) / self.x_std
        for layer in self.hidden:
            x = F.silu(layer(x))
        out = self.out(x)
        mean, logvar = out[..., :-1].chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        return mean, self.min_logvar + F.softplus(logvar - self.min_logvar), out[..., -1]

    def step(self, s: Tensor, a: Tensor, member: Tensor, generator: torch.Generator | None = None
             ) -> tuple[Tensor, Tensor]:
        """Sample s' for each row from its member's Gaussian, with that member's catastrophe probability (rows
        grouped by member in one batched pass; the same number of rows per member)."""
        order = torch.argsort(member, stable=True)
        counts = torch.bincount(member, minlength=self.members)
        if counts.min() != counts.max():
            raise ValueError("step needs the same number of rows per member (particles = a multiple of E)")
        n = int(counts[0])
        mean, logvar, logit = self(s[order].view(self.members, n, -1), a[order].view(self.members, n, -1))
        noise = torch.randn(mean.shape, generator=generator)
        delta = (mean + noise * (0.5 * logvar).exp()).view(-1, self.obs_dim) * self.y_std + self.y_mean
        next_s, p = torch.empty_like(s), torch.empty(len(s))
        next_s[order] = s[order] + delta
        p[order] = torch.sigmoid(logit).reshape(-1)
        return next_s, p

    def standardise_on(self, s: np.ndarray, a: np.ndarray, s_next: np.ndarray) -> None:
        """Set the input and target standardisation from these transitions (before the first fit)."""
        x, y = np.concatenate([s, a], 1), s_next - s
        for name, value in (("x_mean", x.mean(0)), ("x_std", x.std(0) + 1e-6), ("y_mean", y.mean(0)),
                            ("y_std", y.std(0) + 1e-6)):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))


@dataclass(frozen=True)
class EnsembleConfig:
    members: int = 5  # CARL / PETS: 5
    hidden: tuple[int, ...] = (200, 200)  # CARL: 4 x 500 (cartpole), 5 x 200 (half-cheetah)
    lr: float = 1e-3  # CARL: Adam 1e-3
    batch_size: int = 32  # PETS / CARL: 32
    steps: int = 2000  # Adam steps per fit (CARL: 5-10 epochs over all data)
    weight_decay: float = 5e-5  # CARL: 2.5e-5 .. 5e-4 per layer


def fit_ensemble(model: ProbabilisticEnsemble, s: np.ndarray, a: np.ndarray, s_next: np.ndarray, c: np.ndarray,
                 cfg: EnsembleConfig, rng: np.random.Generator) -> dict[str, float]:
    """``cfg.steps`` Adam steps of ``model`` (in place) on transitions (s, a, s', c), each member on its own
    bootstrap: Gaussian NLL of the standardised s' - s + BCE of the catastrophe logit (weighted #safe / #violating).
    Fitting again on more data is CARL's adaptation. Returns the last step's losses."""
    s_t, a_t = torch.as_tensor(s, dtype=torch.float32), torch.as_tensor(a, dtype=torch.float32)
    y_t = (torch.as_tensor(s_next - s, dtype=torch.float32) - model.y_mean) / model.y_std
    c_t = torch.as_tensor(c, dtype=torch.float32).reshape(-1)
    positives = float(c_t.sum())
    pos_weight = torch.tensor((len(c_t) - positives) / positives if positives else 1.0)
    boot = rng.integers(0, len(s), (model.members, len(s)))
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rows = np.arange(model.members)[:, None]
    nll = bce = torch.zeros(())
    for _ in range(cfg.steps):
        idx = torch.as_tensor(boot[rows, rng.integers(0, len(s), (model.members, cfg.batch_size))])
        mean, logvar, logit = model(s_t[idx], a_t[idx])
        nll = ((mean - y_t[idx]) ** 2 * (-logvar).exp() + logvar).mean()
        bce = F.binary_cross_entropy_with_logits(logit, c_t[idx], pos_weight=pos_weight)
        loss = nll + bce + 0.01 * (model.max_logvar.sum() - model.min_logvar.sum())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return {"nll": nll.item(), "catastrophe_bce": bce.item()}


def adapt_ensemble(model: ProbabilisticEnsemble, train: TransitionDataset, post: TransitionDataset,
                   cfg: EnsembleConfig, rng: np.random.Generator, post_share: float = 0.5) -> dict[str, float]:
    """Adapt a model fitted on ``train`` to post-fault transitions: ``cfg.steps`` more Adam steps on the training
    data with ``post`` repeated to about ``post_share`` of the transitions (CARL adapts by fitting on the target
    data alone; the mix keeps what the training faults taught where the few post-fault transitions say
    nothing, and gives the post-fault dynamics ``post_share`` of the weight where the two disagree)."""
    if not 0.0 < post_share < 1.0:
        raise ValueError(f"post_share must be in (0, 1), got {post_share}")
    if len(post) == 0:
        raise ValueError("no post-fault transitions to adapt on")
    repeat = max(1, round(post_share / (1 - post_share) * len(train) / len(post)))
    mix = concatenate([train, *[post] * repeat], metadata=train.metadata)
    return fit_ensemble(model, mix.s, mix.a_exec, mix.s_next, mix.c, cfg, rng) | {"post_repeat": float(repeat)}


@dataclass(frozen=True)
class PlannerConfig:
    horizon: int = 25  # CARL: PLAN_HOR 25 (cartpole)
    population: int = 400  # CARL: CEM popsize 400 (cartpole), 500 (half-cheetah)
    elites: int = 40  # CARL: 40
    iterations: int = 5  # CARL: 5
    particles: int = 20  # PETS / CARL: 20
    alpha: float = 0.1  # CARL: CEM smoothing of mean and variance
    catastrophe_cost: float = 10_000.0  # CARL: CATASTROPHE_COST
    catastrophe_threshold: float = 0.5  # CARL (State): test_percentile 50, i.e. a predicted probability > 0.5


class RiskAverseCEM:
    """Plans ``PlannerConfig.horizon`` actions through ``step``; ``act`` returns the first action of the plan.
    ``risk_averse`` (a settable attribute) adds the catastrophe cost: off while CARL trains in the source
    environments, on in the target environment (ref)."""

    def __init__(self, step: StepFn, reward: RewardFn, low: np.ndarray, high: np.ndarray, members: int,
                 cfg: PlannerConfig = PlannerConfig(), seed: int = 0, risk_averse: bool = True) -> None:
        if cfg.particles % members:
            raise ValueError(f"particles ({cfg.particles}) must be a multiple of the ensemble size ({members})")
        if cfg.elites > cfg.population:
            raise ValueError(f"elites ({cfg.elites}) must not exceed the population ({cfg.population})")
        self.step, self.reward, self.cfg, self.members = step, reward, cfg, members
        self.risk_averse = risk_averse
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.generator = torch.Generator().manual_seed(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the warm start (at the start of an episode)."""
        self.plan = ((self.low + self.high) / 2).repeat(self.cfg.horizon, 1)

    @torch.no_grad()
    def costs(self, s0: np.ndarray, candidates: Tensor) -> Tensor:
        """Each candidate's mean over its particles of sum_t [-r_t + catastrophe_cost * (p_t > threshold)]."""
        n, p, c = len(candidates), self.cfg.particles, self.cfg
        states = torch.as_tensor(s0, dtype=torch.float32).repeat(n * p, 1)
        member = torch.arange(p).repeat(n) % self.members
        cost = torch.zeros(n * p)
        for t in range(candidates.shape[1]):
            actions = candidates[:, t].repeat_interleave(p, 0)
            next_states, p_catastrophe = self.step(states, actions, member)
            cost -= self.reward(states, actions, next_states)
            if self.risk_averse:
                cost += c.catastrophe_cost * (p_catastrophe > c.catastrophe_threshold).float()
            states = next_states
        cost = torch.nan_to_num(cost, nan=1e6, posinf=1e6)  # as the ref: a diverging rollout is a bad plan
        return cost.view(n, p).mean(1)

    @torch.no_grad()
    def act(self, s0: np.ndarray) -> np.ndarray:
        c = self.cfg
        mean, var = self.plan.clone(), ((self.high - self.low) ** 2 / 16).repeat(c.horizon, 1)  # ref: init var
        for _ in range(c.iterations):
            noise = torch.randn((c.population, *mean.shape), generator=self.generator)
            candidates = torch.clamp(mean + noise * var.sqrt(), self.low, self.high)
            elite = candidates[torch.topk(-self.costs(s0, candidates), c.elites).indices]
            mean = c.alpha * mean + (1 - c.alpha) * elite.mean(0)
            var = c.alpha * var + (1 - c.alpha) * elite.var(0)
        self.plan = torch.cat([mean[1:], mean[-1:]])
        return mean[0].numpy().astype(np.float64)
