"""A state's catastrophe classifier c_hat(s') for the lookahead shield (ours; ``core/lookahead.py``).

    c_hat(s') = sigmoid(MLP((s' - mean) / std)),   trained by BCE on (s', c), positives weighted #safe / #violating

CARL's ensemble predicts the catastrophe of a *transition* from (s, a) (``carl.ProbabilisticEnsemble``): what a
violation looks like and where the old dynamics lead are learned as one. A joint fault changes the dynamics, not
what a violation is (a fall is a pose), and the few post-fault transitions hold few violations, so a transition
head keeps predicting the training faults' outcomes where the new dynamics differ. Judging the *predicted* next
state instead lets the adapted dynamics alone carry the fault into the risk. The reference code has none.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mesa_ros.core.networks import MLP


class CatastropheClassifier(nn.Module):
    """The logit of c_hat(s') from an MLP on the standardised state."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...] = (200, 200)) -> None:
        super().__init__()
        self.net = MLP(obs_dim, 1, hidden)
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("std", torch.ones(obs_dim))

    def forward(self, s: Tensor) -> Tensor:
        return self.net((s - self.mean) / self.std).squeeze(-1)


def fit_catastrophe(clf: CatastropheClassifier, s_next: np.ndarray, c: np.ndarray, steps: int, batch_size: int,
                    rng: np.random.Generator, lr: float = 1e-3) -> float:
    """Standardise on ``s_next`` and take ``steps`` Adam steps of weighted BCE; returns the last loss."""
    x = torch.as_tensor(s_next, dtype=torch.float32)
    y = torch.as_tensor(c, dtype=torch.float32).reshape(-1)
    positives = float(y.sum())
    if not 0 < positives < len(y):
        raise ValueError(f"the data hold {positives:.0f} violations in {len(y)} transitions: a classifier needs both")
    clf.mean.copy_(x.mean(0))
    clf.std.copy_(x.std(0) + 1e-6)
    pos_weight = torch.tensor((len(y) - positives) / positives)
    optimiser = torch.optim.Adam(clf.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.as_tensor(rng.integers(0, len(x), batch_size))
        loss = F.binary_cross_entropy_with_logits(clf(x[idx]), y[idx], pos_weight=pos_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return loss.item()
