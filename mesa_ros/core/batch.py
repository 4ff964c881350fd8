"""The minibatch every learner consumes: tensors of transitions (s, a, r, c, s', terminated).

The same type carries one task's batch (leading dim B) or K tasks stacked for MAML (K, B, ...).
Which action ``action`` holds is the sampler's choice: the executed action for Q_risk and the
recovery policy, the task policy's proposal for SAC (the paper's relabelling).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class Batch:
    obs: torch.Tensor  # (..., obs_dim) s
    action: torch.Tensor  # (..., act_dim) a
    reward: torch.Tensor  # (...,) r
    cost: torch.Tensor  # (...,) c in {0, 1}: s' violates the constraint
    next_obs: torch.Tensor  # (..., obs_dim) s'
    terminated: torch.Tensor  # (...,) 1.0 where the episode ended in s' (not by time limit)
    target: torch.Tensor | None = None  # (...,) a precomputed critic target (phase 2's lambda-returns); None: TD(0)

    def _map(self, fn) -> Batch:
        return Batch(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                        for f in fields(self)})

    def to(self, device: torch.device | str) -> Batch:
        return self._map(lambda x: x.to(device))

    @staticmethod
    def stack(batches: list[Batch]) -> Batch:
        """K batches of equal size -> one batch with a leading task dimension K."""
        return Batch(**{f.name: None if getattr(batches[0], f.name) is None else
                        torch.stack([getattr(b, f.name) for b in batches]) for f in fields(Batch)})

    def task(self, k: int) -> Batch:
        """Task ``k`` of a stacked batch."""
        return self._map(lambda x: x[k])

    def rows(self, index: torch.Tensor) -> Batch:
        """The transitions at ``index`` (along the first dimension)."""
        return self._map(lambda x: x[index])

    def __len__(self) -> int:
        return self.obs.shape[-2]
