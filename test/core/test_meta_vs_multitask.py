"""MESA vs. Multi-Task on a synthetic task family whose risk boundary moves between tasks.

Tasks: 1-D state s ~ U(-3, 3), action a ~ U(-1, 1), s' = s + a, violation c = 1[s' > tau_k] with a
task-specific, unobserved tau_k ~ U(-2, 2). Both critics get the same budget (iterations, transitions
per iteration, Adam rate); each is then adapted on a small dataset of a held-out task with the phase-2
code path and rate (AdaptConfig.lr), and scored by its MSE to the true risk on fresh data of that task.
gamma_risk = 0 makes the true risk the one-step violation indicator, so that the scores of critics with
different target networks are comparable.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from mesa_ros.core.adaptation import train
from mesa_ros.core.batch import Batch
from mesa_ros.core.config import AdaptConfig, MetaConfig, SafetyCriticConfig
from mesa_ros.core.maml import MetaLearner
from mesa_ros.core.safety_critic import SafetyCritic

torch.set_num_threads(1)
K, B = 5, 64  # tasks per meta-iteration, inner = outer batch size
ITERATIONS, LR = 300, 3e-3  # the same budget and Adam rate for both methods
TEST_TRANSITIONS, ADAPT_STEPS, ADAPT_BATCH = 128, 30, 64


def transitions(tau: float, n: int, rng: np.random.Generator) -> Batch:
    obs = rng.uniform(-3, 3, (n, 1))
    action = rng.uniform(-1, 1, (n, 1))
    next_obs = obs + action
    cost = (next_obs[:, 0] > tau).astype(np.float32)
    f = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return Batch(f(obs), f(action), f(np.zeros(n)), f(cost), f(next_obs), f(cost))


def cat(batches: list[Batch]) -> Batch:
    return Batch(
        *(torch.cat([getattr(b, f.name) for b in batches]) for f in dataclasses.fields(Batch) if f.name != "target")
    )


def task_policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(obs.shape[0], 1)


def held_out_losses(seed: int) -> tuple[float, float]:
    """Mean post-adaptation MSE on held-out tasks: (MESA, Multi-Task)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    train_taus = rng.uniform(-2, 2, 20)
    mesa = SafetyCritic(1, 1, SafetyCriticConfig(hidden=(32, 32), gamma_risk=0.0))
    multitask = copy.deepcopy(mesa)  # same initialisation

    learner = MetaLearner(mesa, MetaConfig(outer_lr=LR, inner_lr_init=0.1, inner_lr_lr=1e-2))
    for _ in range(ITERATIONS):
        taus = rng.choice(train_taus, K, replace=False)
        learner.meta_step(Batch.stack([transitions(t, B, rng) for t in taus]),
                          Batch.stack([transitions(t, B, rng) for t in taus]), task_policy)

    def pooled(batch_size: int) -> Batch:  # all training data pooled, same transitions per iteration
        return cat([transitions(t, batch_size // K, rng) for t in rng.choice(train_taus, K)])

    with multitask.offline():
        train(multitask, pooled, task_policy, steps=ITERATIONS, lr=LR, batch_size=2 * K * B)

    losses: dict[str, list[float]] = {"mesa": [], "multitask": []}
    for tau in rng.uniform(-2, 2, 6):
        test_data, evaluation = transitions(tau, TEST_TRANSITIONS, rng), transitions(tau, 2000, rng)

        def sample(batch_size: int) -> Batch:
            idx = torch.from_numpy(rng.integers(0, TEST_TRANSITIONS, batch_size))
            return test_data.rows(idx)

        for name, critic in (("mesa", mesa), ("multitask", multitask)):
            adapted = copy.deepcopy(critic)
            train(adapted, sample, task_policy, steps=ADAPT_STEPS, lr=AdaptConfig().lr, batch_size=ADAPT_BATCH)
            with torch.no_grad():
                losses[name].append(((adapted(evaluation.obs, evaluation.action) - evaluation.cost) ** 2).mean().item())
    return float(np.mean(losses["mesa"])), float(np.mean(losses["multitask"]))


def test_mesa_adapts_to_held_out_tasks_better_than_multitask() -> None:
    results = np.array([held_out_losses(seed) for seed in range(3)])
    mesa, multitask = results[:, 0], results[:, 1]
    assert (mesa < multitask).sum() >= 2, results
    assert mesa.mean() < 0.85 * multitask.mean(), results
