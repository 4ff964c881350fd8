"""A shield that looks ahead in a learned model of the post-fault dynamics (ours; issue #12).

The risk of a_task is estimated by rolling the *deployed* policy forward in CARL's probabilistic ensemble
(``core/carl.py``) fitted on the training faults and adapted on the post-fault transitions, instead of by
Q_risk (paper sec. 2.3):

    risk(s, a_{0:m-1}) = 1/P sum_p 1[ exists t < H : c_hat(s_t^p, a_t^p, s_{t+1}^p) > 1/2 ],
        s_0^p = s,  s_{t+1}^p ~ f_{p mod E}(s_t^p, a_t^p),  a_t^p = a_t for t < m, pi_task(s_t^p) after,
    or (member_risk: max)  max_e E/P sum_{p mod E = e} 1[ ... ],

the share of P particles (particle p follows member p mod E for the whole horizon, PETS' TS-infinity) that predict a
catastrophe within H steps; by default (``member_risk: max``) the largest such share among the E members' own
particles instead: the pessimistic member, as MOPO / MOReL penalise the ensemble's disagreement on unfamiliar
dynamics (on the training fold bthigh: 9 falls against the mean's 16). c_hat is the ensemble's transition head or,
with ``StateJudged``, a classifier of the predicted next state (``core/catastrophe.py``: a fault changes the
dynamics, not what a fall is). The eps rule is the paper's: a_exec = a_task if risk(s, a_task) <= eps_risk;
otherwise, in place of pi_rec, the first action of the least risky of K candidate sequences (a_task + N(0, sigma^2),
then ``perturbed_steps - 1`` steps of N(0, sigma^2), clipped to the action bounds), a_task itself among them, and of
the slower gaits g of ``escape_scales`` (g * a_task, then g * pi: the whole gait slowed, which one perturbed step
cannot do); ties go to the first action closest to a_task, so the override stays near the task. With a decision
budget (``budget_s``, the safety monitor's ``decision_budget_ms`` in realtime) the gaits are rolled first, then the
candidates ``search_chunk`` at a time, a_task's first, until the next batch would end past the budget: the decision
is then made among those evaluated, in time, instead of a late one (which a realtime simulator replaces by its safe
default action). With a risk governor (``core/governor.py``) the rule runs on c * a_task and the model rolls c * pi,
c regulated on the risks it sees (step rule) or chosen from the model's risk of each gait of a grid of scales (model
rule).

Why: on this project's robot the deployed gait's falls under a new fault are not in the kind of data Q_risk
learns from, and the meta-learned critic stays at 0.00-0.09 before them, while the adapted model's risk is
0.5-1.0 over the last 5-10 steps (docs/results.md, "The same lookahead with a learned model"). The model
is learned from the same data as the critic (the deployed policy's perturbed behaviour under the training
faults) and adapted on the same post-fault transitions (``carl.adapt_ensemble``). Torch-free: the model is
the frozen ensemble (``inference.FrozenEnsemble``), so a node runs it without torch. The reference code has
no such shield; the lookahead with the true simulator (``scripts/lookahead_bound.py``) bounds what it can reach.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from mesa_ros.core.config import LookaheadConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.shield_rule import ShieldDecision

Policy = Callable[[np.ndarray], np.ndarray]  # batched: observations (N, S) -> actions (N, A)
REPORT_STREAM = 1  # the risk reported without a decision (``risk_of``) draws from [seed, this]; decisions: seed


class Model(Protocol):
    """A learned dynamics model with a catastrophe head; row i of a batch follows member i mod ``members``
    (``inference.FrozenEnsemble``)."""

    members: int
    obs_dim: int
    act_dim: int

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class StateJudged:
    """A model whose catastrophe probability is ``catastrophe(s')`` of the sampled next state (``core/catastrophe.py``)
    instead of the model's own transition head."""

    def __init__(self, model: Model, catastrophe: Callable[[np.ndarray], np.ndarray]) -> None:
        self.model, self.catastrophe = model, catastrophe
        self.members, self.obs_dim, self.act_dim = model.members, model.obs_dim, model.act_dim

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_next, _ = self.model.step(s, a, noise)
        return s_next, self.catastrophe(s_next)


class ModelLookahead:
    """The eps rule with the model's risk of a_task and the least risky of K candidates as the override."""

    def __init__(self, model: Model, policy: Policy, low: np.ndarray, high: np.ndarray, cfg: LookaheadConfig,
                 seed: int = 0, governor: RiskGovernor | None = None) -> None:
        if cfg.particles % model.members:
            raise ValueError(f"lookahead.particles ({cfg.particles}) must be a multiple of the ensemble's "
                             f"{model.members} members")
        self.model, self.policy, self.cfg = model, policy, cfg
        self.low, self.high = np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32)
        self.rng = np.random.default_rng(seed)  # the decisions' random numbers
        # the risk reported without a decision (a disabled monitor) rolls with a generator of its own: whether the
        # monitor reported one more state before an enable depends on timing, and drawing it from ``rng`` would
        # shift every later decision (a demo that does not repeat)
        self.report_rng = np.random.default_rng([seed, REPORT_STREAM])
        self.eps_risk = cfg.eps_risk  # the safety monitor's eps_risk parameter may change it at run time
        self.budget_s: float | None = None  # seconds one decision may take (None: every candidate, load-independent)
        self.governor = governor  # None: c = 1
        self.grid_s = 0.0  # seconds the governor's last grid roll took: reserved out of a decision budget when due

    @property
    def scale(self) -> float:
        """c: the governor's action scale (1 without one)."""
        return 1.0 if self.governor is None else self.governor.scale

    def risk(self, obs: np.ndarray, sequences: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """risk(s, a_{0:m-1}) of each sequence (K, m, A) (NaN: the policy's action there): (K,)."""
        return self.share(self.falls(obs, sequences, rng=rng))

    def share(self, falls: np.ndarray) -> np.ndarray:
        """The risk of each row of ``falls`` (K, P): the share of its particles that fall, or with ``member_risk``
        "max" the largest share among the members' own particles (particle p of member p mod E): (K,)."""
        if self.cfg.member_risk == "max":
            return falls.reshape(len(falls), -1, self.model.members).mean(1).max(1)
        return falls.mean(1)

    def falls(self, obs: np.ndarray, sequences: np.ndarray, scales: np.ndarray | None = None,
              rng: np.random.Generator | None = None) -> np.ndarray:
        """Whether each particle of each sequence (K, m, A) falls within the horizon: (K, P), particle p of
        member p mod E; the policy after the sequence scaled by c, or by ``scales`` (K,), one per sequence, with
        common random numbers (particle p draws the same noise in every sequence); noise from ``rng`` (default:
        the decisions')."""
        k, P, H = len(sequences), self.cfg.particles, self.cfg.horizon
        rng = self.rng if rng is None else rng
        s = np.repeat(np.asarray(obs, dtype=np.float32)[None], k * P, 0)
        seq = np.repeat(np.asarray(sequences, dtype=np.float32), P, 0)
        if scales is None:
            scale = np.float32(self.scale)
            noise = rng.standard_normal((H, k * P, self.model.obs_dim), dtype=np.float32)  # each its own
        else:
            scale = np.repeat(np.asarray(scales, dtype=np.float32), P)[:, None]
            noise = np.tile(rng.standard_normal((H, P, self.model.obs_dim), dtype=np.float32), (1, k, 1))
        fell = np.zeros(k * P, dtype=bool)
        for t in range(H):
            a = seq[:, t] if t < seq.shape[1] else np.full((k * P, self.model.act_dim), np.nan, np.float32)
            open_ = np.isnan(a)
            if open_.any():
                a = np.where(open_, scale * self.policy(s).astype(np.float32, copy=False), a)
            s, p_catastrophe = self.model.step(s, a, noise[t])
            fell |= p_catastrophe > 0.5
        return fell.reshape(k, P)

    def scale_risks(self, obs: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """The risk of the policy scaled by each of ``scales`` from ``obs`` on (the governor's model rule): (G,)."""
        open_ = np.full((len(scales), 1, self.model.act_dim), np.nan, dtype=np.float32)
        return self.share(self.falls(obs, open_, scales))

    def candidates(self, a_task: np.ndarray) -> np.ndarray:
        """a_task (row 0, the policy after it) and K perturbed sequences: (K + 1, m, A)."""
        m, shape = self.cfg.perturbed_steps, (self.cfg.candidates, self.cfg.perturbed_steps, len(a_task))
        noise = self.rng.normal(0.0, self.cfg.sigma, shape).astype(np.float32)
        noise[:, 0] += a_task
        task = np.full((1, m, len(a_task)), np.nan, dtype=np.float32)
        task[0, 0] = a_task
        return np.concatenate([task, np.clip(noise, self.low, self.high)])

    def risk_of(self, obs: np.ndarray, a_task: np.ndarray) -> float:
        """risk(s, a_task) alone, the policy after it (no search), as reported without a decision: from
        ``report_rng``, the decisions' random numbers untouched."""
        return self._risk_of(obs, a_task, self.report_rng)

    def _risk_of(self, obs: np.ndarray, a_task: np.ndarray, rng: np.random.Generator) -> float:
        return float(self.risk(obs, np.asarray(a_task, dtype=np.float32)[None, None], rng)[0])

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        """The eps rule for one observation (the interface of ``inference.FrozenShield``), on c * a_task; the
        governor then sees the risk (and, when due, the grid's: its time comes out of the search's budget).
        ``overridden``: the search's pick replaced c * a_task."""
        start = time.perf_counter()
        due = self.governor is not None and self.governor.grid_due
        a_task = np.clip(self.scale * np.asarray(a_task, dtype=np.float32), self.low, self.high)
        risk = self._risk_of(obs, a_task, self.rng)
        decision = ShieldDecision(a_task, False, risk)
        if risk > self.eps_risk:
            deadline = None if self.budget_s is None else start + self.budget_s - (self.grid_s if due else 0.0)
            cand, _, pick = self.search(obs, a_task, deadline)
            decision = ShieldDecision(cand[pick, 0], pick != 0, risk)
        if self.governor is not None:
            grid_risks = None
            if due:
                begun = time.perf_counter()
                grid_risks = self.scale_risks(obs, self.governor.grid)
                self.grid_s = time.perf_counter() - begun
            self.governor.update(risk, grid_risks)
        return decision

    def search(self, obs: np.ndarray, a_task: np.ndarray,
               deadline: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """The candidates (a_task first, the slower gaits last), their risks (NaN: not evaluated before
        ``deadline``, a ``time.perf_counter()`` value) and the index of the least risky, ties to the closest to
        a_task. The gaits are rolled first, in one batch, then the perturbed candidates in chunks."""
        cand = self.candidates(a_task)
        gaits = np.asarray(self.cfg.escape_scales, dtype=np.float32)
        slowed = np.full((len(gaits), cand.shape[1], len(a_task)), np.nan, dtype=np.float32)
        slowed[:, 0] = np.clip(gaits[:, None] * a_task, self.low, self.high)
        risks = np.full(len(cand) + len(gaits), np.nan)
        chunk = len(cand) if deadline is None else self.cfg.search_chunk  # no deadline: one batch of all
        if len(gaits) and (deadline is None or time.perf_counter() < deadline):  # then at least a_task's chunk
            risks[len(cand):] = self.share(self.falls(obs, slowed, gaits * np.float32(self.scale)))
        for i in range(0, len(cand), chunk):
            begun = time.perf_counter()
            batch = cand[i:i + chunk]
            risks[i:i + len(batch)] = self.risk(obs, batch)
            done = time.perf_counter()
            if deadline is not None and done + (done - begun) > deadline:
                break
        cand = np.concatenate([cand, slowed])
        tried = np.flatnonzero(~np.isnan(risks))
        order = np.lexsort([np.linalg.norm(cand[tried, 0] - a_task, axis=1), risks[tried]])
        return cand, risks, int(tried[order[0]])
