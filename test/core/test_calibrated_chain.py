"""Offline training reaches the calibrated Q_risk of a chain MDP, known in closed form.

Positions 0..N-1 (observed one-hot), one action dimension, and a fixed task policy a = +1 that moves
one position right per step. A task is the chain's length L: the step from position L - 1 is a
violation (c = 1). Under the policy, d = L - 1 - i steps before the violation, the calibrated value is
Q_risk(i, +1) = gamma_risk^d. Every offline stage must reach it: RRL pretraining on the test chain,
Multi-Task pooled training over chains of the same length, MESA phase 1 over chains of other lengths
followed by phase 2 on the test chain.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from gymnasium import spaces

from mesa_ros.core.config import AdaptConfig, MesaConfig, MetaConfig, RecoveryConfig, SafetyCriticConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, to_batch
from mesa_ros.core.methods import (
    adapt_stage,
    adapt_to_test,
    get_method,
    meta_train,
    new_critic,
    new_recovery,
    offline_stage,
)
from mesa_ros.core.safety_critic import lambda_returns
from mesa_ros.core.safety_layer import SafetyLayer

torch.set_num_threads(1)
N, GAMMA, TEST_LENGTH = 12, 0.8, 8
DISTANCES = (0, 1, 2, 3, 5)
TOLERANCE = 0.05
SPACE = (spaces.Box(0.0, 1.0, (N,)), spaces.Box(-1.0, 1.0, (1,)))
CFG = MesaConfig(
    env="Chain",
    critic=SafetyCriticConfig(hidden=(64, 64), gamma_risk=GAMMA, lr=1e-3, batch_size=64),
    recovery=RecoveryConfig(hidden=(16,)),
    meta=MetaConfig(iterations=400, num_tasks=3, inner_batch_size=64, outer_batch_size=64, outer_lr=3e-3,
                    inner_lr_init=1e-2),
    adapt=AdaptConfig(steps=1500, lr=1e-3, batch_size=64, pretrain_steps=2000, pretrain_lr=3e-3),
)


def policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.ones(obs.shape[0], 1)


def chain(length: int, split: str = "train", repeats: int = 20) -> TransitionDataset:
    """Every transition of the chain under the task policy, ``repeats`` times."""
    i = np.tile(np.arange(length), repeats)
    eye = np.eye(N, dtype=np.float64)
    c = (i == length - 1).astype(np.float64)
    n = len(i)
    return TransitionDataset(
        s=eye[i], a_task=np.ones((n, 1)), a_exec=np.ones((n, 1)), r=np.zeros(n), c=c,
        s_next=eye[np.minimum(i + 1, N - 1)], terminated=c.astype(bool), truncated=np.zeros(n, dtype=bool),
        episode=np.repeat(np.arange(repeats), length), step=i,
        metadata=DatasetMetadata("Chain", {"length": length}, split, "task_policy"))


def calibration_error(layer: SafetyLayer, length: int) -> dict[int, float]:
    """|Q_risk - gamma^d| at d steps before the violation, for DISTANCES."""
    positions = [length - 1 - d for d in DISTANCES]
    obs = torch.eye(N)[positions]
    with torch.no_grad():
        q = layer.critic(obs, torch.ones(len(positions), 1))
    return {d: abs(q[k].item() - GAMMA ** d) for k, d in enumerate(DISTANCES)}


def test_rrl_pretraining_reaches_the_calibrated_values() -> None:
    method = get_method("rrl")
    layer, _ = adapt_stage(method, method.configure(CFG), *SPACE, policy, chain(TEST_LENGTH, "test"), seed=0)
    errors = calibration_error(layer, TEST_LENGTH)
    assert max(errors.values()) < TOLERANCE, errors


def test_multitask_pooled_training_reaches_the_calibrated_values() -> None:
    cfg = dataclasses.replace(CFG, meta=dataclasses.replace(CFG.meta, iterations=2000))
    layer = offline_stage(get_method("multitask"), cfg, *SPACE, policy, [chain(TEST_LENGTH), chain(TEST_LENGTH)],
                          seed=0)
    errors = calibration_error(layer, TEST_LENGTH)
    assert max(errors.values()) < TOLERANCE, errors


def test_mesa_phase_1_then_phase_2_reaches_the_calibrated_values_of_an_unseen_chain() -> None:
    """Phase 1 on chains of lengths 6, 7, 9, 10; phase 2 on length 8. Phase 2 bootstraps from its slow
    target network: at the paper's tau (2e-4) its steps make about one Bellman backup from the
    meta-critic, so this test raises tau to 0.02 to reach phase 2's fixed point."""
    cfg = dataclasses.replace(CFG, critic=dataclasses.replace(CFG.critic, tau=0.02))
    torch.manual_seed(0)
    layer = SafetyLayer(new_critic(cfg, *SPACE),
                        new_recovery(cfg, *SPACE))
    rng = np.random.default_rng(0)
    meta_train(cfg, layer, [chain(n) for n in (6, 7, 9, 10)], policy, rng)
    before = calibration_error(layer, TEST_LENGTH)
    adapt_to_test(cfg, layer, chain(TEST_LENGTH, "test"), policy, rng)
    errors = calibration_error(layer, TEST_LENGTH)
    assert max(errors.values()) < TOLERANCE, (before, errors)
    assert max(before.values()) > TOLERANCE  # the test chain was not known before phase 2


def test_lambda_returns_are_the_td0_target_at_0_and_the_discounted_risk_at_1() -> None:
    torch.manual_seed(0)
    critic = new_critic(CFG, *SPACE)
    data = chain(TEST_LENGTH, "test", repeats=3)
    batch = to_batch(data.arrays(), np.arange(len(data)), "exec")
    td0 = critic.target_value(batch, policy, current=False)
    assert torch.allclose(lambda_returns(critic, data, policy, 0.0), td0, atol=1e-6)
    distance = TEST_LENGTH - 1 - data.step  # steps to the violation that ends every episode
    assert torch.allclose(lambda_returns(critic, data, policy, 1.0), torch.as_tensor(GAMMA ** distance).float())
    cut = data.subset(data.step < 4)  # episodes cut before their violation: the last step bootstraps
    last = torch.as_tensor(cut.step == 3)
    cut_td0 = critic.target_value(to_batch(cut.arrays(), np.arange(len(cut)), "exec"), policy, current=False)
    assert torch.allclose(lambda_returns(critic, cut, policy, 1.0)[last], cut_td0[last], atol=1e-6)


def test_phase_2_on_lambda_returns_calibrates_at_the_papers_slow_target_rate() -> None:
    """The test above with the paper's tau (2e-4): TD(0) phase 2 stays far from gamma^d, phase 2 on the test
    episodes' Monte-Carlo returns (adapt.td_lambda = 1) reaches it."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    meta = SafetyLayer(new_critic(CFG, *SPACE), new_recovery(CFG, *SPACE))
    meta_train(CFG, meta, [chain(n) for n in (6, 7, 9, 10)], policy, rng)
    errors = {}
    for lam in (0.0, 1.0):
        layer = copy.deepcopy(meta)
        cfg = dataclasses.replace(CFG, adapt=dataclasses.replace(CFG.adapt, steps=500, td_lambda=lam))
        adapt_to_test(cfg, layer, chain(TEST_LENGTH, "test"), policy, np.random.default_rng(1))
        errors[lam] = max(calibration_error(layer, TEST_LENGTH).values())
    assert errors[1.0] < TOLERANCE < errors[0.0], errors
