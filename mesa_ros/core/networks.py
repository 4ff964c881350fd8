"""Networks of the safety layer: the MLP, Q_risk(s, a) and the deterministic recovery actor.

Paper sec. 5: every network is an MLP with 2 x 256 ReLU hidden layers (``config.py`` holds the sizes).
The reference's meta-learned critic generates its layers' weights from learned codes (``WLinear``),
an option of the critic here (``SafetyCriticConfig.wlinear``, off: the paper's plain MLP).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

Bounds = float | Sequence[float] | np.ndarray | Tensor


class WLinear(nn.Module):
    """A linear layer whose weight and bias are generated from a learned code: [W, b] = A z + c.

    The MESA reference's meta-learned critic layer (``WLinear`` in ``run_multitask.py:43-68``, from
    MACAW): z has ``code_dim`` = 100 entries drawn from N(0, (1/out)^2), (A, c) is an ordinary linear map
    from z to every weight and bias. MAML and Adam then move A, c and z. ``weight`` / ``bias`` are
    computed on access, so ``torch.func.functional_call`` with substituted parameters sees the
    substituted layer.
    """

    def __init__(self, in_features: int, out_features: int, code_dim: int = 100) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.z = nn.Parameter(torch.empty(code_dim).normal_(0.0, 1.0 / out_features))
        self.fc = nn.Linear(code_dim, in_features * out_features + out_features)

    def weight_and_bias(self) -> tuple[Tensor, Tensor]:
        """(W of shape (out, in), b), from one evaluation of the generator."""
        theta, n = self.fc(self.z), self.in_features * self.out_features
        return theta[:n].view(self.in_features, self.out_features).T, theta[n:]

    @property
    def weight(self) -> Tensor:
        return self.weight_and_bias()[0]

    @property
    def bias(self) -> Tensor:
        return self.weight_and_bias()[1]


def _weight_and_bias(layer: nn.Module) -> tuple[Tensor, Tensor]:
    return layer.weight_and_bias() if isinstance(layer, WLinear) else (layer.weight, layer.bias)


class MLP(nn.Module):
    """Linear-ReLU stack with a linear output layer (modules called functionally: cheap for single inputs).
    ``wlinear``: the layers are ``WLinear`` (generated weights) instead of ``nn.Linear``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int], wlinear: bool = False) -> None:
        super().__init__()
        dims = (in_dim, *hidden, out_dim)
        layer = WLinear if wlinear else nn.Linear
        self.layers = nn.ModuleList(layer(i, o) for i, o in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.relu(F.linear(x, *_weight_and_bias(layer)))
        return F.linear(x, *_weight_and_bias(last))


class QRisk(nn.Module):
    """Q_risk(s, a) in [0, 1]: sigmoid of an MLP on [s, a].

    With ``twin=True`` two independent heads are kept and combined with max, the pessimistic choice of
    Recovery RL; each head is trained against the same target (see ``safety_critic.critic_loss``).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), twin: bool = False,
                 wlinear: bool = False) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.heads = nn.ModuleList(MLP(obs_dim + act_dim, 1, hidden, wlinear) for _ in range(2 if twin else 1))

    def forward(self, obs: Tensor, action: Tensor, all_heads: bool = False) -> Tensor:
        """Risk of shape ``obs.shape[:-1]``; with ``all_heads`` one risk per head, stacked first."""
        x = torch.cat((obs, action), dim=-1)
        risks = [torch.sigmoid(head(x)).squeeze(-1) for head in self.heads]
        if all_heads:
            return torch.stack(risks)
        return risks[0] if len(risks) == 1 else torch.maximum(risks[0], risks[1])


class DeterministicActor(nn.Module):
    """a = pi(s): MLP with a tanh output scaled to the action bounds [low, high]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], low: Bounds, high: Bounds) -> None:
        super().__init__()
        low_t = torch.as_tensor(np.broadcast_to(np.asarray(low, dtype=np.float32), (act_dim,)).copy())
        high_t = torch.as_tensor(np.broadcast_to(np.asarray(high, dtype=np.float32), (act_dim,)).copy())
        if not bool((high_t > low_t).all()):
            raise ValueError(f"action bounds must satisfy low < high elementwise, "
                             f"got low={low_t.tolist()} high={high_t.tolist()}")
        self.net = MLP(obs_dim, act_dim, hidden)
        self.register_buffer("low", low_t)
        self.register_buffer("high", high_t)
        self.register_buffer("scale", (high_t - low_t) / 2)
        self.register_buffer("bias", (high_t + low_t) / 2)

    def forward(self, obs: Tensor) -> Tensor:
        return torch.addcmul(self.bias, self.scale, torch.tanh(self.net(obs)))
