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

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def stack(batches: "list[Batch]") -> "Batch":
        """K batches of equal size -> one batch with a leading task dimension K."""
        return Batch(**{f.name: torch.stack([getattr(b, f.name) for b in batches]) for f in fields(Batch)})

    def task(self, k: int) -> "Batch":
        """Task ``k`` of a stacked batch."""
        return Batch(**{f.name: getattr(self, f.name)[k] for f in fields(Batch)})

    def __len__(self) -> int:
        return self.obs.shape[-2]
