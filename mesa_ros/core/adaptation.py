"""Phase 2 of MESA (paper sec. 4.2) and the offline pretraining of the RRL / Multi-Task baselines.

Phase 2: M plain Adam steps (lr 1e-3) on the small test-environment dataset for the meta-learned
critic (``SafetyCritic.update``: same target, loss and soft update as everywhere else) and the
recovery policy (``RecoveryPolicy.update``, critic frozen for that step).

Baselines (facts): RRL learns critic and recovery policy from the test data only (``adapt`` from scratch,
``AdaptConfig.pretrain_steps`` = 10k steps); Multi-Task first trains the critic on all training data
pooled (``pretrain_critic``, Adam ``AdaptConfig.pretrain_lr`` = 3e-4), then adapts like MESA.
Both functions run the same update loop (``_train``), which starts a fresh Adam at ``lr`` in the critic
(and recovery policy) and leaves it there; phase 3 resets the optimisers to its own rate.
"""
from __future__ import annotations

from collections.abc import Callable

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import AdaptConfig
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy

SampleBatch = Callable[[int], Batch]  # batch_size -> a random minibatch of the dataset


def _train(critic: SafetyCritic, recovery: RecoveryPolicy | None, sample_batch: SampleBatch,
           task_policy: TaskPolicy, steps: int, lr: float, batch_size: int) -> dict[str, float]:
    """``steps`` updates of the critic (and recovery policy); returns the mean and last losses."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    critic.reset_optimizer(lr)
    if recovery is not None:
        recovery.reset_optimizer(lr)
    totals: dict[str, float] = {}
    last: dict[str, float] = {}
    for _ in range(steps):
        batch = sample_batch(batch_size)
        last = critic.update(batch, task_policy)
        if recovery is not None:
            last |= recovery.update(batch.obs, critic)
        for key, value in last.items():
            totals[key] = totals.get(key, 0.0) + value
    return {f"mean_{k}": v / steps for k, v in totals.items()} | {f"last_{k}": v for k, v in last.items()}


def adapt(critic: SafetyCritic, recovery: RecoveryPolicy, sample_batch: SampleBatch, task_policy: TaskPolicy,
          steps: int = AdaptConfig.steps, lr: float = AdaptConfig.lr,
          batch_size: int = AdaptConfig.batch_size) -> dict[str, float]:
    """Phase 2: adapt the critic and train the recovery policy on the test dataset."""
    return _train(critic, recovery, sample_batch, task_policy, steps, lr, batch_size)


def pretrain_critic(critic: SafetyCritic, sample_batch: SampleBatch, steps: int, lr: float,
                    task_policy: TaskPolicy, batch_size: int = AdaptConfig.batch_size) -> dict[str, float]:
    """Critic-only offline training, e.g. Multi-Task on the pooled training data (Adam ``lr``)."""
    return _train(critic, None, sample_batch, task_policy, steps, lr, batch_size)
