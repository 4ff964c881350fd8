"""Phase 1 of MESA (paper sec. 4.1): second-order MAML of the safety critic over the training tasks.

For each of K tasks (inner and outer batches from the same task's data):

    theta'_k = theta - alpha * grad_theta L_k^inner(theta)          (one SGD step)
    meta-loss = mean_k L_k^outer(theta'_k)

where L is the critic loss of ``safety_critic.critic_loss`` and alpha holds one learned rate per
parameter tensor, alpha = softplus(rho), rho initialised so that alpha = ``inner_lr_init`` (ref).
theta is updated by Adam(``outer_lr``) after clipping its gradient norm to ``grad_clip``; rho by
Adam(``inner_lr_lr``), unclipped.

Critic target: each task's inner and outer losses bootstrap from the current meta-parameters theta,
y = c + (1 - c) gamma_risk Q_theta(s', pi_task(s')), computed once per meta-step for all K inner and
outer batches with ``SafetyCritic.target_value(current=True)``, outside the differentiated graph. The
reference does the same in effect: ``vf_target = deepcopy(vf)`` afresh for every task in every
meta-iteration (``run_multitask.py:478``); the soft update after its inner step (``:497``) moves that
throw-away copy by tau = 2e-4 towards theta'_k, a negligible difference we leave out. No target
network is kept in phase 1; ``meta_train`` leaves the critic's target an exact copy of theta.

Two interchangeable meta-gradient implementations:
``meta_gradient_func`` (torch.func: grad of vmap over the K tasks of grad -> one batched computation)
and ``meta_gradient_loop`` (per-task Python loop with autograd; the reference for tests and benches).
They give the same numbers (tests) and do the same FLOPs. On 2 CPU cores at the paper's size (2 x 256,
batch 256) a meta-step is matmul-bound and, run eagerly, the two go at about the same speed, the loop
often ahead: the batched elementwise passes of the vmapped graph ((K, B, 256) tensors, partly
transposed) fall out of the L2 cache that each task's tensors fit in. The functional form can be
compiled as one graph (``MetaConfig.compile``: torch.compile fuses those passes), which the loop's
``autograd.grad(create_graph=True)`` cannot; that is where its speed comes from (bench/bench_phase1.py).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from torch.func import grad, grad_and_value, vmap
from torch.nn import functional as F

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import MetaConfig
from mesa_ros.core.networks import QRisk
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy, critic_loss

Params = dict[str, Tensor]
TaskData = tuple[Tensor, Tensor, Tensor]  # (obs, action, target) with a leading task dim K


class MetaGradient(NamedTuple):
    params: Params  # d meta-loss / d theta
    inner_lr: Params  # d meta-loss / d rho (the raw, pre-softplus inner rates)
    inner_loss: Tensor  # (K,) L_k^inner(theta)
    outer_loss: Tensor  # (K,) L_k^outer(theta'_k)


def inverse_softplus(y: float) -> float:
    """rho with softplus(rho) = y."""
    return math.log(math.expm1(y))


def adapt_params(params: Mapping[str, Tensor], grads: Mapping[str, Tensor],
                 raw_inner_lr: Mapping[str, Tensor]) -> Params:
    """theta' = theta - softplus(rho) * g, per parameter tensor."""
    return {name: p - F.softplus(raw_inner_lr[name]) * grads[name] for name, p in params.items()}


def _task_losses(q_risk: QRisk, first_order: bool, params: Params, raw_inner_lr: Params,
                 inner: TaskData, outer: TaskData) -> tuple[Tensor, Tensor]:
    """(L^outer(theta'), L^inner(theta)) for one task; differentiable w.r.t. params and rates."""
    grads, inner_loss = grad_and_value(partial(critic_loss, q_risk))(params, *inner)
    if first_order:
        grads = {name: g.detach() for name, g in grads.items()}
    return critic_loss(q_risk, adapt_params(params, grads, raw_inner_lr), *outer), inner_loss


def meta_gradient_func(q_risk: QRisk, params: Params, raw_inner_lr: Params, inner: TaskData, outer: TaskData,
                       first_order: bool = False) -> MetaGradient:
    """Meta-gradient with torch.func: the K inner loops run as one vmapped computation."""
    def meta_loss(params: Params, raw_inner_lr: Params) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        outer_loss, inner_loss = vmap(partial(_task_losses, q_risk, first_order), in_dims=(None, None, 0, 0))(
            params, raw_inner_lr, inner, outer)
        return outer_loss.mean(), (inner_loss, outer_loss)

    (g_params, g_lr), (inner_loss, outer_loss) = grad(meta_loss, argnums=(0, 1), has_aux=True)(params, raw_inner_lr)
    return MetaGradient(g_params, g_lr, inner_loss, outer_loss)


def meta_gradient_loop(q_risk: QRisk, params: Params, raw_inner_lr: Params, inner: TaskData, outer: TaskData,
                       first_order: bool = False) -> MetaGradient:
    """Meta-gradient with a plain per-task loop and torch.autograd (reference implementation)."""
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    raw_inner_lr = {name: r.detach().requires_grad_() for name, r in raw_inner_lr.items()}
    num_tasks = inner[0].shape[0]
    inner_losses, outer_losses = [], []
    for k in range(num_tasks):
        inner_loss = critic_loss(q_risk, params, *(x[k] for x in inner))
        grads = torch.autograd.grad(inner_loss, list(params.values()), create_graph=not first_order)
        adapted = adapt_params(params, dict(zip(params, grads)), raw_inner_lr)
        inner_losses.append(inner_loss.detach())
        outer_losses.append(critic_loss(q_risk, adapted, *(x[k] for x in outer)))
    outer_loss = torch.stack(outer_losses)
    leaves = [*params.values(), *raw_inner_lr.values()]
    g = torch.autograd.grad(outer_loss.mean(), leaves)
    return MetaGradient(dict(zip(params, g[:len(params)])), dict(zip(raw_inner_lr, g[len(params):])),
                        torch.stack(inner_losses), outer_loss.detach())


META_GRADIENTS = {"func": meta_gradient_func, "loop": meta_gradient_loop}


class Compiled:
    """``torch.compile(fn)``; if compiling fails on the first call (e.g. no C++ compiler), warns and runs ``fn``."""

    def __init__(self, fn: Callable[..., MetaGradient]) -> None:
        self.fn, self.compiled, self.tried = fn, torch.compile(fn, dynamic=False), False

    def __call__(self, *args, **kwargs) -> MetaGradient:
        if self.tried:
            return self.compiled(*args, **kwargs)
        self.tried = True
        try:
            return self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager function is equivalent
            warnings.warn(f"torch.compile of the meta-gradient failed ({type(exc).__name__}: {exc}); "
                          "running it eagerly", RuntimeWarning, stacklevel=2)
            self.compiled = self.fn
            return self.fn(*args, **kwargs)


class MetaLearner:
    """Meta-trains ``critic.q_risk`` in place; after training, ``critic`` is phase 2's initialisation."""

    def __init__(self, critic: SafetyCritic, cfg: MetaConfig = MetaConfig(),
                 implementation: Literal["func", "loop"] = "func") -> None:
        if implementation not in META_GRADIENTS:
            raise ValueError(f"unknown MAML implementation {implementation!r}; "
                             f"expected one of {sorted(META_GRADIENTS)}")
        if cfg.inner_steps != 1:
            raise ValueError(f"MetaLearner implements the paper's single inner step; got inner_steps={cfg.inner_steps}")
        self.critic, self.cfg = critic, cfg
        self.meta_gradient = META_GRADIENTS[implementation]
        if cfg.compile and implementation == "func":
            self.meta_gradient = Compiled(self.meta_gradient)
        self.params = dict(critic.q_risk.named_parameters())
        ref = next(iter(self.params.values()))
        self.raw_inner_lr = {name: torch.full((), inverse_softplus(cfg.inner_lr_init), dtype=ref.dtype,
                                              device=ref.device, requires_grad=True) for name in self.params}
        # fused: one kernel per step instead of one per tensor (same update; ~0.2 ms less per meta-step on CPU)
        self.outer_optimizer = torch.optim.Adam(self.params.values(), lr=cfg.outer_lr, fused=True)
        self.inner_lr_optimizer = torch.optim.Adam(self.raw_inner_lr.values(), lr=cfg.inner_lr_lr, fused=True)

    def meta_step(self, inner: Batch, outer: Batch, task_policy: TaskPolicy) -> dict[str, float]:
        """One meta-update from K stacked task batches (K, B, ...) for the inner and the outer loss."""
        inner_target, outer_target = self.critic.target_value(Batch.stack([inner, outer]), task_policy,
                                                              current=True)  # one pass, from theta
        inner_data, outer_data = (inner.obs, inner.action, inner_target), (outer.obs, outer.action, outer_target)
        g = self.meta_gradient(self.critic.q_risk, {n: p.detach() for n, p in self.params.items()},
                               {n: r.detach() for n, r in self.raw_inner_lr.items()}, inner_data, outer_data,
                               first_order=self.cfg.first_order)
        for name, p in self.params.items():
            p.grad = g.params[name]
        for name, r in self.raw_inner_lr.items():
            r.grad = g.inner_lr[name]
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params.values(), self.cfg.grad_clip)
        self.outer_optimizer.step()
        self.inner_lr_optimizer.step()
        return {"inner_loss": g.inner_loss.mean().item(), "outer_loss": g.outer_loss.mean().item(),
                "grad_norm": grad_norm.item()}

    def inner_lr(self) -> dict[str, float]:
        """The learned inner learning rates alpha = softplus(rho), per parameter tensor."""
        return {name: F.softplus(r).item() for name, r in self.raw_inner_lr.items()}
