"""Two shields stacked (ours; issue #12): the critic's warning governor sets the gait, the model lookahead decides.

    c       stepped on the share of the critic's warnings 1[Q_risk(s, a_task) > eps_risk] per window
            (``shield_rule.govern``)
    a_exec  = the lookahead's eps rule on c * a_task, its model rolling c * pi_task after it (``core/lookahead.py``;
              c as the critic's governor set it for the steps that follow, this step's warning included)

Why both: a critic meta-learned with the reference's share of violating transitions tells which stretches are
dangerous (pooled AUC 0.67-0.72) but not which of a state's actions helps (within-state AUC 0.47-0.52); the
lookahead's model ranks a state's actions (0.61) but its governor reacts to a gait's risk only once the model sees it.
Stacked, on two faults of the training-fault fold bthigh: 5 falls against 20 without a shield (-75%), 17 with the
lookahead alone, 12 with the warning governor alone; on the test fault fshin (CLI): -38% against -20% and -32%
(docs/results.md, "Both mechanisms stacked"). With the paper's
rule on the critic (no governor) the lookahead decides on whatever the critic sends, pi_rec's action included.
Neither the paper nor the reference has either mechanism.

The decision's ``risk`` is the lookahead's (the rule that overrides); ``eps_risk`` is the lookahead's threshold.
"""
from __future__ import annotations

import copy

import numpy as np

from mesa_ros.core.inference import FrozenShield
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.shield_rule import ShieldDecision


def _part(part: str, name: str, doc: str) -> property:
    """An attribute of the stack that is one of its part's (read and set there)."""
    return property(lambda self: getattr(getattr(self, part), name),
                    lambda self, value: setattr(getattr(self, part), name, value), doc=doc)


class StackedShield:
    """The critic's shield (its warning governor sets c) followed by the model lookahead on its action."""

    def __init__(self, critic: FrozenShield, lookahead: ModelLookahead) -> None:
        if lookahead.governor is not None:
            raise ValueError("a stacked lookahead must have no governor of its own (got one): the critic's warning "
                             "governor sets the gait")
        # a copy, so that the lookahead given keeps its own policy (it shares the model and both random generators)
        self.critic, self.lookahead = critic, copy.copy(lookahead)
        policy = lookahead.policy
        self.lookahead.policy = lambda s: self.critic.scale * policy(s)  # the model rolls the gait that runs

    governor = _part("critic", "governor", "The critic's warning governor (c of the whole stack).")
    eps_risk = _part("lookahead", "eps_risk", "The lookahead's threshold: the stack overrides above it.")
    budget_s = _part("lookahead", "budget_s", "The lookahead's time for one decision (None: every candidate).")

    @property
    def scale(self) -> float:
        return self.critic.scale

    def risk_of(self, obs: np.ndarray, a_task: np.ndarray) -> float:
        """The lookahead's risk of c * a_task (the action the stack would decide on), no search, c unchanged; the
        decisions' random numbers untouched."""
        scaled = np.clip(self.scale * np.asarray(a_task, dtype=np.float32), self.lookahead.low, self.lookahead.high)
        return self.lookahead.risk_of(obs, scaled.astype(np.float32))  # from the lookahead's report generator

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        first = self.critic(obs, a_task)
        second = self.lookahead(obs, first.action)
        return ShieldDecision(second.action, first.overridden or second.overridden, second.risk)
