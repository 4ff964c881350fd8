"""The paper's comparisons (sec. 5) on one code path: each method is a recipe for a *safety layer*.

A safety layer is the safety critic Q_risk plus the recovery policy pi_rec that phase 3
(``online.run``) puts between the task policy and the environment; a method without one
(Unconstrained) lets a_task through unchanged. Methods differ only in how the layer is made offline:

=============  ==========================================  ==========================================
method         offline stage                               adaptation stage (small test dataset)
=============  ==========================================  ==========================================
unconstrained  --                                          -- (no safety layer: SAC alone)
rrl            -- (never reads the training data)          critic + recovery from scratch,
                                                           ``adapt.pretrain_steps`` Adam steps at
                                                           ``adapt.pretrain_lr``; twin critic heads
multitask      critic + recovery on all training data      phase 2: ``adapt.steps`` Adam steps at
               pooled, ``meta.iterations`` steps at        ``adapt.lr`` (critic + recovery)
               ``adapt.pretrain_lr`` (paper table A.2)
mesa           phase 1: second-order MAML of the critic    phase 2, as Multi-Task
               over the training tasks, ``meta.iterations``;
               one recovery step per iteration on the
               recovery data against the meta-critic
=============  ==========================================  ==========================================

Offline, every critic bootstraps from its current parameters and pi_rec trains with it, as the
reference does (``safety_critic.py``; ref ``sac.py:139-142, 174-208``, ``run_multitask.py:478,
542-559``). MESA's recovery data is the test dataset in the reference (and in ``mesa-ros
experiment``); a deployment that has no test data before the fault (the shipped robot checkpoint)
gives the pooled training data instead (``recovery_data=None``). Phase 2 then continues the same
pi_rec. Left as in the paper: one recovery-step rate (``recovery.lr`` 3e-4; ref: 1e-4 in phase 1).

The two stages are separate functions so that the CLI can run them as separate commands
(``meta-train``, ``adapt``) with a checkpoint in between; ``build`` runs both in one process.

The task policy in the critic target offline: y = c + (1 - c) gamma_risk Q_risk(s', a'),
a' ~ pi_task(s'). Offline there is no trained task policy; as in the reference, a' comes from the
task policy as it is at that point: the freshly initialised SAC actor. We use *the same* actor that
phase 3 starts from (it travels in the checkpoints as module ``sac``), so the offline critic is
calibrated to the policy the shield first guards; phase 3 then recalibrates it online as the task
policy learns (paper sec. 4.3).

CARL and CARL-Offline (``model_based``) have no safety layer: they plan through a learned model
(``core/carl_agent.py``), and only ``mesa-ros experiment`` runs them. Meta-CPO is not implemented.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from tqdm import tqdm

from mesa_ros.core.adaptation import OnLog, adapt, train
from mesa_ros.core.batch import Batch
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset, concatenate, to_batch
from mesa_ros.core.maml import MetaLearner
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic, TaskPolicy, lambda_returns
from mesa_ros.core.safety_layer import SafetyLayer

Metrics = dict[str, float]


def new_critic(cfg: MesaConfig, observation_space: spaces.Box, action_space: spaces.Box) -> SafetyCritic:
    """A freshly initialised Q_risk (sizes from ``cfg.critic``)."""
    return SafetyCritic(observation_space.shape[0], action_space.shape[0], cfg.critic)


def new_recovery(cfg: MesaConfig, observation_space: spaces.Box, action_space: spaces.Box) -> RecoveryPolicy:
    """A freshly initialised pi_rec (sizes from ``cfg.recovery``, output scaled to the action bounds)."""
    return RecoveryPolicy(observation_space.shape[0], action_space.shape[0], action_space.low, action_space.high,
                          cfg.recovery)


# -- offline stages on the training datasets ------------------------------------------------------
def _pooled(train_data: Sequence[TransitionDataset]) -> TransitionDataset:
    meta = dataclasses.replace(train_data[0].metadata, task={}, policy="pooled", extra={"datasets": len(train_data)})
    return concatenate(train_data, metadata=meta)


def meta_train(cfg: MesaConfig, layer: SafetyLayer, train_data: Sequence[TransitionDataset],
               task_policy: TaskPolicy, rng: np.random.Generator, recovery_data: TransitionDataset | None = None,
               *, progress: bool = False, log_every: int = 100, on_log: OnLog | None = None) -> list[Metrics]:
    """MESA phase 1: ``cfg.meta.iterations`` MAML meta-steps of ``layer.critic`` (in place), each followed
    by one pi_rec step on a minibatch of ``recovery_data`` (default: the training data pooled) against
    the current meta-critic (ref ``run_multitask.py:542-559``).

    Each meta-step draws K = ``meta.num_tasks`` training datasets (without replacement when there
    are at least K, else with) and, per task, an inner and an outer minibatch of that task's data
    (``meta.pos_fraction`` of every offline batch from its dataset's violating transitions, as the reference).
    Returns one metrics row every ``log_every`` iterations (and the last), also passed to ``on_log``.
    """
    _check_nonempty(train_data, "meta-training")
    meta, pf = cfg.meta, cfg.meta.pos_fraction
    critic, recovery = layer.critic, layer.recovery
    learner = MetaLearner(critic, meta)
    recovery_data = recovery_data if recovery_data is not None else _pooled(train_data)
    recovery.reset_optimizer(cfg.recovery.lr)
    rows: list[Metrics] = []
    start = time.perf_counter()
    with critic.offline():
        for iteration in tqdm(range(1, meta.iterations + 1), desc="meta-train (MAML)", disable=not progress):
            tasks = rng.choice(len(train_data), size=meta.num_tasks, replace=len(train_data) < meta.num_tasks)
            inner = Batch.stack([train_data[k].sample(meta.inner_batch_size, rng, pos_fraction=pf) for k in tasks])
            outer = Batch.stack([train_data[k].sample(meta.outer_batch_size, rng, pos_fraction=pf) for k in tasks])
            metrics = learner.meta_step(inner, outer, task_policy)
            metrics |= recovery.update(recovery_data.sample(cfg.adapt.batch_size, rng, pos_fraction=pf), critic)
            if iteration % log_every == 0 or iteration == meta.iterations:
                lrs = learner.inner_lr().values()  # MAML's learned inner rates, one per parameter tensor
                row = {"iteration": iteration, **metrics, "mean_inner_lr": sum(lrs) / len(lrs),
                       "min_inner_lr": min(lrs), "max_inner_lr": max(lrs),
                       "wall_time": time.perf_counter() - start}
                rows.append(row)
                if on_log is not None:
                    on_log(row)
    return rows


def pooled_train(cfg: MesaConfig, layer: SafetyLayer, train_data: Sequence[TransitionDataset],
                 task_policy: TaskPolicy, rng: np.random.Generator, recovery_data: TransitionDataset | None = None,
                 *, progress: bool = False, log_every: int = 100, on_log: OnLog | None = None) -> list[Metrics]:
    """Multi-Task offline stage: critic and pi_rec on all training transitions pooled (one dataset),
    ``cfg.meta.iterations`` Adam steps at ``adapt.pretrain_lr``, batch ``critic.batch_size``, a recovery step
    with every critic step on the same batch (ref ``sac.py:174-208``), ``meta.pos_fraction`` of it violating.

    ``recovery_data``, ``progress`` and ``log_every`` are accepted for a uniform stage signature (the
    reference trains Multi-Task's pi_rec on the pooled data); the loop reports one summary row.
    """
    _check_nonempty(train_data, "pooled training")
    pooled = _pooled(train_data)
    start = time.perf_counter()
    with layer.critic.offline():
        metrics = train(layer, lambda n: pooled.sample(n, rng, pos_fraction=cfg.meta.pos_fraction), task_policy,
                        steps=cfg.meta.iterations, lr=cfg.adapt.pretrain_lr, batch_size=cfg.critic.batch_size)
    row = {"iteration": cfg.meta.iterations, **metrics, "wall_time": time.perf_counter() - start}
    if on_log is not None:
        on_log(row)
    return [row]


# -- adaptation stages on the test dataset ----------------------------------------------------------
def adapt_to_test(cfg: MesaConfig, layer: SafetyLayer, test_data: TransitionDataset, task_policy: TaskPolicy,
                  rng: np.random.Generator, on_log: OnLog | None = None) -> Metrics:
    """Phase 2 (MESA, Multi-Task): ``adapt.steps`` Adam steps at ``adapt.lr`` of critic and pi_rec; with
    ``adapt.td_lambda`` > 0 the critic regresses on the test episodes' lambda-returns (recomputed every step)."""
    a = cfg.adapt

    def sample(n: int) -> Batch:
        if not a.td_lambda:
            return test_data.sample(n, rng, pos_fraction=a.pos_fraction)
        index = test_data.sample_index(n, rng, a.pos_fraction)
        batch = to_batch(test_data.arrays(), index, "exec")
        target = lambda_returns(layer.critic, test_data, task_policy, a.td_lambda)[torch.as_tensor(index)]
        return dataclasses.replace(batch, target=target)

    return adapt(layer, sample, task_policy, steps=a.steps, lr=a.lr, batch_size=a.batch_size, on_log=on_log)


def pretrain_on_test(cfg: MesaConfig, layer: SafetyLayer, test_data: TransitionDataset, task_policy: TaskPolicy,
                     rng: np.random.Generator, on_log: OnLog | None = None) -> Metrics:
    """RRL: critic and pi_rec learned from the test data only, ``adapt.pretrain_steps`` Adam steps
    at ``adapt.pretrain_lr`` (paper table A.2: 10k, 2k for Navigation), bootstrapping from the current critic."""
    a = cfg.adapt
    with layer.critic.offline():
        return train(layer, lambda n: test_data.sample(n, rng), task_policy, steps=a.pretrain_steps,
                     lr=a.pretrain_lr, batch_size=a.batch_size, on_log=on_log)


def _check_nonempty(datasets: Sequence[TransitionDataset], what: str) -> None:
    if not datasets:
        raise ValueError(f"{what} needs at least one training dataset")


# -- the registry ---------------------------------------------------------------------------------
OfflineStage = Callable[..., list[Metrics]]  # signature of meta_train / pooled_train
AdaptStage = Callable[..., Metrics]  # signature of adapt_to_test / pretrain_on_test


@dataclass(frozen=True)
class Method:
    """One comparison: its offline stage (training data) and adaptation stage (test data), either optional."""

    name: str
    summary: str
    offline: OfflineStage | None  # None: the method never reads the training datasets
    adapt: AdaptStage | None  # None: no safety layer (phase 3 executes a_task)
    twin_critic: bool = False  # Recovery RL's pessimistic twin heads
    offline_reads_test: bool = False  # the offline stage trains pi_rec on the test dataset (MESA, as the ref)
    model_based: bool = False  # CARL: a planner through a learned model instead of SAC (+ a safety layer)

    @property
    def safe(self) -> bool:
        """True when the method puts a safety layer in the loop."""
        return self.adapt is not None

    def configure(self, cfg: MesaConfig) -> MesaConfig:
        """``cfg`` with this method's fixed choices applied (the critic's twin heads)."""
        if cfg.critic.twin == self.twin_critic:
            return cfg
        return dataclasses.replace(cfg, critic=dataclasses.replace(cfg.critic, twin=self.twin_critic))


METHODS: dict[str, Method] = {
    "unconstrained": Method("unconstrained", "SAC alone, no safety layer", None, None),
    "rrl": Method("rrl", "Recovery RL: critic and recovery from the test dataset only", None, pretrain_on_test,
                  twin_critic=True),
    "multitask": Method("multitask", "critic on all training data pooled, then phase 2 on the test data",
                        pooled_train, adapt_to_test),
    "mesa": Method("mesa", "MAML-meta-learned critic (phase 1), then phase 2 on the test data",
                   meta_train, adapt_to_test, offline_reads_test=True),
    "carl": Method("carl", "CARL: PETS ensemble learned by planning in the training environments, risk-averse "
                   "CEM adapted online", None, None, model_based=True),
    "carl_offline": Method("carl_offline", "CARL-Offline: the same model learned from the offline training datasets",
                           None, None, model_based=True),
}
SAFETY_LAYER_METHODS = tuple(name for name, m in METHODS.items() if not m.model_based)  # SAC (+ a shield)


def get_method(name: str, model_based: bool = False) -> Method:
    """The registered method ``name``; ``ValueError`` naming the choices otherwise, and for a model-based method
    (CARL) unless ``model_based`` (the experiment runner is the one place that runs them)."""
    if name in METHODS:
        method = METHODS[name]
        if method.model_based and not model_based:
            raise ValueError(f"method {name!r} plans through a learned model and has no safety layer or SAC policy: "
                             f"run it with `mesa-ros experiment <experiment> --methods {name}`")
        return method
    raise ValueError(f"unknown method {name!r}; expected one of {sorted(METHODS)}")


def offline_stage(method: Method, cfg: MesaConfig, observation_space: spaces.Box, action_space: spaces.Box,
                  task_policy: TaskPolicy, train_data: Sequence[TransitionDataset],
                  recovery_data: TransitionDataset | None = None, *, seed: int = 0, progress: bool = False,
                  log_every: int = 100, on_log: OnLog | None = None) -> SafetyLayer | None:
    """The method's work on the training datasets (``mesa-ros meta-train``): a fresh critic and pi_rec
    trained by ``method.offline`` (pi_rec on ``recovery_data`` where the method uses it); None for a
    method without an offline stage. Seeds torch and the sampler with ``seed``."""
    if method.offline is None:
        return None
    torch.manual_seed(seed)
    layer = SafetyLayer(new_critic(cfg, observation_space, action_space),
                        new_recovery(cfg, observation_space, action_space))
    method.offline(cfg, layer, train_data, task_policy, np.random.default_rng(seed), recovery_data,
                   progress=progress, log_every=log_every, on_log=on_log)
    return layer


def adapt_stage(method: Method, cfg: MesaConfig, observation_space: spaces.Box, action_space: spaces.Box,
                task_policy: TaskPolicy, test_data: TransitionDataset | None, offline: SafetyLayer | None = None,
                *, seed: int = 0, on_log: OnLog | None = None) -> tuple[SafetyLayer | None, Metrics]:
    """The method's work on the test dataset (``mesa-ros adapt``): the safety layer and its metrics (each
    step's losses also to ``on_log``).

    ``offline`` is the offline stage's layer (required exactly when the method has an offline stage);
    it is adapted in place. RRL draws a fresh layer after seeding torch with ``seed + 1``.
    """
    if not method.safe:
        return None, {}
    if test_data is None:
        raise ValueError(f"method {method.name!r} needs the test-environment dataset")
    if (offline is None) != (method.offline is None):
        need = "the layer of its offline stage (a meta-train checkpoint)" if method.offline else "no prior critic"
        raise ValueError(f"method {method.name!r} adapts {need}")
    torch.manual_seed(seed + 1)
    layer = offline or SafetyLayer(new_critic(cfg, observation_space, action_space),
                                   new_recovery(cfg, observation_space, action_space))
    metrics = method.adapt(cfg, layer, test_data, task_policy, np.random.default_rng(seed + 1), on_log=on_log)
    return layer, metrics
