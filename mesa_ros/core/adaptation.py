"""Training loops of the safety layer on a dataset: phase 2 (paper sec. 4.2) and the offline stages' plain loop.

``train``: ``steps`` updates with a fresh Adam at ``lr``, each one ``SafetyLayer.update`` (critic on a
minibatch, then pi_rec on its states) or, without a recovery policy, the critic's alone. Used by

* phase 2 (``adapt``): M Adam steps (lr 1e-3) on the small test-environment dataset; the critic's
  target network starts as an exact copy of the critic it adapts (ref ``run_multitask.py:633-653``);
* RRL pretraining on the test data and Multi-Task training on the pooled training data
  (``methods.py``, inside ``SafetyCritic.offline()``: bootstrapping from the current critic), with a
  recovery step at every critic step, as the reference's ``sac.py:174-208``.

The optimisers are left at ``lr``; phase 3 resets them to its own rate.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import AdaptConfig
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy
from mesa_ros.core.safety_layer import SafetyLayer

SampleBatch = Callable[[int], Batch]  # batch_size -> a random minibatch of the dataset
OnLog = Callable[[dict[str, Any]], None]  # a metrics row: the CSV log, TensorBoard, a progress line


def train(model: SafetyLayer | SafetyCritic, sample_batch: SampleBatch, task_policy: TaskPolicy, steps: int,
          lr: float, batch_size: int, on_log: OnLog | None = None) -> dict[str, float]:
    """``steps`` updates of the layer (or a critic alone); returns the mean and last losses. ``on_log`` gets
    ``{"step": k, <losses>}`` after every update (a metrics CSV, TensorBoard)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    model.reset_optimizer(lr)
    totals: dict[str, float] = {}
    last: dict[str, float] = {}
    for step in range(1, steps + 1):
        last = model.update(sample_batch(batch_size), task_policy)
        if on_log is not None:
            on_log({"step": step, **last})
        for key, value in last.items():
            totals[key] = totals.get(key, 0.0) + value
    return {f"mean_{k}": v / steps for k, v in totals.items()} | {f"last_{k}": v for k, v in last.items()}


def adapt(layer: SafetyLayer, sample_batch: SampleBatch, task_policy: TaskPolicy, steps: int = AdaptConfig.steps,
          lr: float = AdaptConfig.lr, batch_size: int = AdaptConfig.batch_size,
          on_log: OnLog | None = None) -> dict[str, float]:
    """Phase 2: adapt the critic and train the recovery policy on the test dataset, from a synced target."""
    layer.critic.sync_target()
    return train(layer, sample_batch, task_policy, steps, lr, batch_size, on_log)
