"""The one place where networks learn from executed transitions, on one schedule.

Like Stable-Baselines3's off-policy algorithms (``learning_starts``, ``train_freq``, ``gradient_steps``):
the first ``learning_starts`` steps act uniformly at random (when an ``explore`` policy is given), then
with the task policy; after every ``every``-th transition, once ``learning_starts`` were seen::

    sac_updates x     SAC.update on a minibatch of the task buffer (a_task: what the policy proposed)
    safety_updates x  SafetyLayer.update on a minibatch of the risk buffer (a_exec: what was executed):
                      Q_risk with a' ~ pi_task(s'), then pi_rec on the same states

Used by SAC training (``collect.train_sac``), phase 3 (``online.run``), the task_policy node
(``learn:=true``) and the adaptation node (learning while shielding): no node performs an update itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.rollout import Act
from mesa_ros.core.sac import SAC
from mesa_ros.core.safety_critic import TaskPolicy
from mesa_ros.core.safety_layer import SafetyLayer


@dataclass
class Learner:
    """SAC on ``task_buffer`` and/or the safety layer on ``risk_buffer``; either may be absent."""

    agent: SAC | None = None
    task_buffer: ReplayBuffer | None = None
    safety: SafetyLayer | None = None
    risk_buffer: ReplayBuffer | None = None
    task_policy: TaskPolicy | None = None  # a' ~ pi_task(s') of the critic's target; default: the agent's policy
    learning_starts: int = 0
    every: int = 1  # transitions between updates; 0: never update
    sac_updates: int = 1
    safety_updates: int = 1
    sac_batch: int = 256
    critic_batch: int = 256
    explore: Act | None = None  # the warm-up policy of the first learning_starts steps
    steps: int = 0  # transitions seen

    def __post_init__(self) -> None:
        if (self.agent is None) != (self.task_buffer is None) or (self.safety is None) != (self.risk_buffer is None):
            raise ValueError("a learner needs each network with its buffer: agent with task_buffer, safety with "
                             "risk_buffer")
        if self.safety is not None and self.task_policy is None:
            if self.agent is None:
                raise ValueError("the safety layer's critic needs a task policy for its targets")
            self.task_policy = self.agent.policy
        if min(self.learning_starts, self.every, self.sac_updates, self.safety_updates) < 0:
            raise ValueError("learning_starts, every and the update counts must be >= 0")
        if self.task_buffer is not None and self.task_buffer.capacity < self.learning_starts:
            raise ValueError(f"the task buffer holds {self.task_buffer.capacity} transitions, fewer than the "
                             f"{self.learning_starts} learning starts after: SAC would never learn")

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The warm-up policy for the first ``learning_starts`` steps, then the task policy (sampling)."""
        if self.explore is not None and self.steps < self.learning_starts:
            return self.explore(obs)
        return self.agent.act(obs)

    def add(self, s: np.ndarray, a_task: np.ndarray, a_exec: np.ndarray, r: float, c: float, s_next: np.ndarray,
            terminated: bool, truncated: bool) -> None:
        """Store one executed transition in each buffer (each keeps its own action), then ``learn()``."""
        for buffer in (self.task_buffer, self.risk_buffer):
            if buffer is not None:
                buffer.add(s, a_task, a_exec, r, c, s_next, terminated, truncated)
        self.learn()

    def learn(self, new_steps: int = 1) -> None:
        """``new_steps`` more transitions are in the buffers: the updates that fall due."""
        for _ in range(new_steps):
            self.steps += 1
            if self.steps < self.learning_starts or not self.every or self.steps % self.every:
                continue
            if self.agent is not None:
                for _ in range(self.sac_updates):
                    self.agent.update(self.task_buffer.sample(self.sac_batch))
            if self.safety is not None:
                for _ in range(self.safety_updates):
                    self.safety.update(self.risk_buffer.sample(self.critic_batch), self.task_policy)
