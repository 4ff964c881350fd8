"""A risk governor: the deployed gait slowed down while the shield's risk stays above a budget (ours; issue #12).

A joint's power loss can leave the deployed gait marginal, and at a state where a fall is near no action close to
the task's reliably escapes it (docs/results.md, "Why the lookahead's choice is hard"); a slightly less forceful
gait, a = c * pi(s), falls far less often (HalfCheetah, bthigh lost: 32 falls in 300 episodes at c = 1, 4 at
0.95). How much to slow down depends on the fault, so c is regulated on the shield's risk of the proposed action
c * a_task, r_t (before any override; the lookahead: the share of model particles that fall (``member_risk``); a
critic's warning governor, ``shield_rule.govern``: its warning 1[Q_risk(s, a_task) > eps_risk] on the unscaled task
action), over windows of W decisions:

    c <- max(c_min, c - n step) if mean_{window} r_t > budget,  n = min(n_max, ceil(log2(mean / budget)))
    c <- min(1, c + step)       if mean_{window} r_t < budget / 2
    c unchanged                 otherwise (hysteresis)

With ``early`` the step down comes as soon as the window's sum exceeds budget x W (its mean must then exceed the
budget whatever the rest of it brings; mean = sum / W), and a new window starts: a critic's warning slows the gait
at once instead of up to W decisions later.

The shield then runs its eps rule on c * a_task, its model rolling c * pi (scaling towards 0: the action bounds are
assumed symmetric about 0, as SAC's tanh policies of this project have them). The further the risk is above the
budget, the larger the step down (n >= 1): on the validation fold the model's risk halves per 0.1 of slowing
(bthigh: 0.0054 at c = 1, 0.0026 at 0.9), so n = ceil(log2(mean / budget)) steps of 0.05 close about half the gap
at once (no overshoot from one noisy window), the next windows the rest. Neither the paper nor the reference
has it; it is a reference governor (control literature) driven by a learned risk. Budget chosen on the training
faults only (docs/results.md, "A risk governor" and "The governor's budget on a severe training fault"). Its premise,
slower is safer, does not hold for every fault: with bshin, bfoot and ffoot lost a slower gait falls more, and a low
budget then slows it to a crawl.

With ``rule = "model"`` c is not stepped but chosen: at every ``grid_every``-th decision the model also rolls each
gait of the grid G = {1, 1 - step, ..., min_scale} from the current state (``ModelLookahead.scale_risks``, common
random numbers; 11 gaits cost about 7 times the risk of a_task), and at the window's end

    c <- max{g in G : mean_{window} r_t(g) <= budget},  or  argmin_g mean_{window} r_t(g) when no g meets it,

the fastest gait the model deems within budget, else the least risky one, whichever way that lies (on the severe
fault above it is c = 1). Caveat: r_t(g) is measured on the states of the gait that runs, not of gait g's own.
"""
from __future__ import annotations

import math

import numpy as np

from mesa_ros.core.config import GovernorConfig


class RiskGovernor:
    """The action scale c, updated once per ``window`` risks."""

    def __init__(self, cfg: GovernorConfig, scale: float = 1.0) -> None:
        if cfg.budget <= 0:
            raise ValueError(f"a risk governor needs governor.budget > 0, got {cfg.budget} (0: none, from_config)")
        self.cfg = cfg
        self.scale = min(1.0, max(cfg.min_scale, scale))  # a scale carried over, within this config's bounds
        n = int(math.floor((1.0 - cfg.min_scale) / cfg.step + 1e-9)) + 1
        # the gaits whose risk the model rule needs (none for the step rule), fastest first
        self.grid = np.round(1.0 - cfg.step * np.arange(n), 6) if cfg.rule == "model" else np.empty(0)
        self._sum, self._samples, self._count = np.zeros(max(1, len(self.grid))), 0, 0  # per window
        # the mean risk of the last window that had one (per gait of ``grid``; the step rule: one), None before
        self.window_means: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg: GovernorConfig | None, scale: float = 1.0) -> RiskGovernor | None:
        """A governor for ``cfg``, or None when there is none or its budget is 0 (off)."""
        return cls(cfg, scale) if cfg is not None and cfg.budget > 0 else None

    @property
    def grid_due(self) -> bool:
        """Whether this decision should bring the risk of each gait of ``grid`` (model rule: every ``grid_every``-th
        decision of a window, from its first)."""
        return len(self.grid) > 0 and self._count % self.cfg.grid_every == 0

    def update(self, risk: float, grid_risks: np.ndarray | None = None) -> float:
        """Record one decision: its risk (step rule; NaN ignored) or, when ``grid_due``, the risk of each gait of
        ``grid`` (model rule); the scale for the next decision."""
        if len(self.grid):
            if grid_risks is not None:
                if len(grid_risks) != len(self.grid):
                    raise ValueError(f"the model rule needs the risk of each of the {len(self.grid)} gaits of its "
                                     f"grid, got {len(grid_risks)}")
                self._sum, self._samples = self._sum + grid_risks, self._samples + 1
            self._count += 1
        elif risk == risk:
            self._sum, self._samples, self._count = self._sum + risk, self._samples + 1, self._count + 1
            if self.cfg.early and self._count < self.cfg.window and self._sum[0] > self.cfg.budget * self.cfg.window:
                self._count = self.cfg.window  # the window's mean exceeds the budget whatever comes: decide now
        if self._count == self.cfg.window:
            if self._samples:  # step rule: per decision of the window (an early decision: its sum so far)
                self.window_means = means = self._sum / (self._samples if len(self.grid) else self.cfg.window)
                self.scale = self._choose(means) if len(self.grid) else self._step(float(means[0]))
            self._sum, self._samples, self._count = np.zeros_like(self._sum), 0, 0
        return self.scale

    def _step(self, mean: float) -> float:
        """The step rule: down n steps above the budget, up one under half of it."""
        budget, step = self.cfg.budget, self.cfg.step
        if mean > budget:
            n = min(self.cfg.max_steps_down, max(1, math.ceil(math.log2(mean) - math.log2(budget) - 1e-9)))
            return max(self.cfg.min_scale, round(self.scale - n * step, 6))
        if mean < budget / 2:
            return min(1.0, round(self.scale + step, 6))
        return self.scale

    def _choose(self, means: np.ndarray) -> float:
        """The model rule: the fastest gait within budget, else the least risky (ties to the faster)."""
        within = np.flatnonzero(means <= self.cfg.budget)
        return float(self.grid[within[0] if within.size else int(np.argmin(means))])
