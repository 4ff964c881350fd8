"""A risk governor: the deployed gait slowed down while the shield's risk stays above a budget (ours; issue #12).

A joint's power loss can leave the deployed gait marginal, and at a state where a fall is near no action close to
the task's reliably escapes it (docs/results.md, "Why the lookahead's choice is hard"); a slightly less forceful
gait, a = c * pi(s), falls far less often (HalfCheetah, bthigh lost: 32 falls in 300 episodes at c = 1, 4 at
0.95). How much to slow down depends on the fault, so c is regulated on the shield's risk of the proposed action
c * a_task, r_t (before any override; the lookahead: the share of model particles that fall), over windows of W
decisions:

    c <- max(c_min, c - n step) if mean_{window} r_t > budget,  n = min(n_max, ceil(log2(mean / budget)))
    c <- min(1, c + step)       if mean_{window} r_t < budget / 2
    c unchanged                 otherwise (hysteresis)

The shield then runs its eps rule on c * a_task, its model rolling c * pi (scaling towards 0: the action bounds are
assumed symmetric about 0, as SAC's tanh policies of this project have them). The further the risk is above the
budget, the larger the step down (n >= 1): on the validation fold the model's risk halves per 0.1 of slowing
(bthigh: 0.0054 at c = 1, 0.0026 at 0.9), so n = ceil(log2(mean / budget)) steps of 0.05 close about half the gap
at once (no overshoot from one noisy window), the next windows the rest. Neither the paper nor the reference
has it; it is a reference governor (control literature) driven by a learned risk. Budget chosen on the training
faults only (docs/results.md, "A risk governor" and "The governor's budget on a severe training fault"). Its premise,
slower is safer, does not hold for every fault: with bshin, bfoot and ffoot lost a slower gait falls more, and a low
budget then slows it to a crawl.
"""
from __future__ import annotations

import math

from mesa_ros.core.config import GovernorConfig


class RiskGovernor:
    """The action scale c, updated once per ``window`` risks."""

    def __init__(self, cfg: GovernorConfig, scale: float = 1.0) -> None:
        if cfg.budget <= 0:
            raise ValueError(f"a risk governor needs governor.budget > 0, got {cfg.budget} (0: none, from_config)")
        self.cfg = cfg
        self.scale = min(1.0, max(cfg.min_scale, scale))  # a scale carried over, within this config's bounds
        self._sum, self._count = 0.0, 0

    @classmethod
    def from_config(cls, cfg: GovernorConfig | None, scale: float = 1.0) -> RiskGovernor | None:
        """A governor for ``cfg``, or None when there is none or its budget is 0 (off)."""
        return cls(cfg, scale) if cfg is not None and cfg.budget > 0 else None

    def update(self, risk: float) -> float:
        """Record one decision's risk (NaN ignored); the scale for the next decision."""
        if risk == risk:
            self._sum, self._count = self._sum + risk, self._count + 1
        if self._count == self.cfg.window:
            mean, step = self._sum / self._count, self.cfg.step
            if mean > self.cfg.budget:
                n = min(self.cfg.max_steps_down, max(1, math.ceil(math.log2(mean) - math.log2(self.cfg.budget))))
                self.scale = max(self.cfg.min_scale, round(self.scale - n * step, 6))
            elif mean < self.cfg.budget / 2:
                self.scale = min(1.0, round(self.scale + step, 6))
            self._sum, self._count = 0.0, 0
        return self.scale
