"""The comparisons' registry: every method builds, RRL reads only test data, the others learn from training data."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mesa_ros.core import online
from mesa_ros.core.collect import collect
from mesa_ros.core.config import load_config
from mesa_ros.core.methods import (
    SAFETY_LAYER_METHODS,
    adapt_stage,
    get_method,
    new_critic,
    new_recovery,
    offline_stage,
)
from mesa_ros.core.restore import env_spaces, new_agent
from mesa_ros.core.safety_layer import SafetyLayer
from mesa_ros.envs import ENVS
from mesa_ros.experiments.metrics import MetricsLog

from safety_stages import build

torch.set_num_threads(1)
ENV = "Navigation-2"
SPACE = env_spaces(ENV)
OBS = torch.as_tensor(np.random.default_rng(0).uniform([-40, -15], [-10, 15], size=(64, 2)), dtype=torch.float32)
ACT = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def data():
    """Two sets of training datasets (different tasks) and a test dataset, small."""
    train_a = [collect(ENV, None, "train", num_transitions=200, seed=s, progress=False) for s in (1, 2)]
    train_b = [collect(ENV, None, "train", num_transitions=200, seed=s, progress=False) for s in (3, 4)]
    test = collect(ENV, None, "test", num_transitions=100, seed=0, progress=False)
    return train_a, train_b, test


def setup(method: str):
    m = get_method(method)
    cfg = m.configure(load_config(ENV, "smoke"))
    return m, cfg, new_agent(cfg, SPACE)


def risk(critic) -> torch.Tensor:
    with torch.no_grad():
        return critic(OBS, ACT)


def state(module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", sorted(SAFETY_LAYER_METHODS))
def test_every_method_builds_a_layer_that_differs_from_an_untrained_one(method, data):
    train, _, test = data
    m, cfg, agent = setup(method)
    layer = build(m, cfg, *SPACE, agent.policy, train, test, seed=0)
    if method == "unconstrained":
        assert layer is None and not m.safe
        return
    torch.manual_seed(0 if m.offline else 1)  # the seeds offline_stage / adapt_stage draw the fresh critic with
    untrained = new_critic(cfg, *SPACE)
    assert len(layer.critic.q_risk.heads) == (2 if method == "rrl" else 1)  # RRL: twin heads (max)
    assert (risk(layer.critic) - risk(untrained)).abs().max() > 1e-3
    assert risk(layer.critic).mean() < risk(untrained).mean()  # no violations in this data: risk learned down


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown method 'sarsa'; expected one of \['carl', 'carl_offline', 'mesa', "):
        get_method("sarsa")
    with pytest.raises(ValueError, match="run it with `mesa-ros experiment <experiment> --methods carl`"):
        get_method("carl")
    assert get_method("carl", model_based=True).model_based


def test_rrl_uses_only_the_test_data(data):
    train_a, train_b, test = data
    m, cfg, agent = setup("rrl")
    layers = [build(m, cfg, *SPACE, agent.policy, train, test, seed=0) for train in (train_a, train_b, ())]
    for other in layers[1:]:
        assert same(state(layers[0].critic), state(other.critic))
        assert same(state(layers[0].recovery), state(other.recovery))
    assert offline_stage(m, cfg, *SPACE, agent.policy, train_a) is None


@pytest.mark.parametrize("method", ["multitask", "mesa"])
def test_multitask_and_mesa_learn_from_the_training_data(method, data):
    train_a, train_b, test = data
    m, cfg, agent = setup(method)
    critics = [offline_stage(m, cfg, *SPACE, agent.policy, train, seed=0).critic
               for train in (train_a, train_a, train_b)]
    assert same(state(critics[0]), state(critics[1]))  # seeded
    assert not same(state(critics[0]), state(critics[2]))  # other training data, other critic
    with pytest.raises(ValueError, match="needs at least one training dataset"):
        offline_stage(m, cfg, *SPACE, agent.policy, [])


def test_stages_check_their_inputs(data):
    train, _, test = data
    mesa, cfg, agent = setup("mesa")
    layer = SafetyLayer(new_critic(cfg, *SPACE), new_recovery(cfg, *SPACE))
    with pytest.raises(ValueError, match="adapts the layer of its offline stage"):
        adapt_stage(mesa, cfg, *SPACE, agent.policy, test)
    with pytest.raises(ValueError, match="needs the test-environment dataset"):
        adapt_stage(mesa, cfg, *SPACE, agent.policy, None, layer)
    rrl, cfg, agent = setup("rrl")
    with pytest.raises(ValueError, match="'rrl' adapts no prior critic"):
        adapt_stage(rrl, cfg, *SPACE, agent.policy, test, layer)


def test_pipeline_runs_every_phase_and_writes_the_csv(data, tmp_path):
    train, _, test = data
    method = get_method("mesa")
    cfg = method.configure(load_config(ENV, "smoke"))
    agent = new_agent(cfg, SPACE)
    safety = build(method, cfg, *SPACE, agent.policy, train, test, seed=cfg.seed)
    with MetricsLog(tmp_path / "episodes.csv", step_key="episode") as log:
        result = online.run(cfg, test.metadata.task, agent, safety, test, seed=cfg.seed, on_episode=log.write)
    lines = (tmp_path / "episodes.csv").read_text().splitlines()
    assert lines[0].startswith("mode,episode,steps,total_steps,return,violation,cumulative_violations")
    assert len(lines) == 1 + len(result.rows) == 4 and result.safety is not None


@pytest.mark.parametrize("method", ["multitask", "mesa", "rrl"])
def test_offline_stages_leave_an_exact_target_copy_and_phase_2_moves_only_the_critic(method, data):
    """Offline the critic bootstraps from itself; leaving the stage the target is an exact copy, from which
    phase 2 starts (here at tau = 0: the target then no longer moves)."""
    train, _, test = data
    m = get_method(method)
    cfg = m.configure(load_config(ENV, "smoke", {"critic": {"tau": 0.0}}))
    agent = new_agent(cfg, SPACE)
    offline = offline_stage(m, cfg, *SPACE, agent.policy, train, test, seed=0)
    if m.offline is not None:
        assert same(state(offline.critic.q_risk), state(offline.critic.q_risk_target))
        assert not offline.critic.bootstrap_current  # restored after the stage
    layer, _ = adapt_stage(m, cfg, *SPACE, agent.policy, test, offline, seed=0)
    if m.offline is None:  # RRL's pretraining on the test data is its offline stage
        assert same(state(layer.critic.q_risk), state(layer.critic.q_risk_target))
    else:
        assert not same(state(layer.critic.q_risk), state(layer.critic.q_risk_target))  # phase 2 moved only theta


@pytest.mark.parametrize("method", ["multitask", "mesa"])
def test_offline_stage_trains_the_recovery_policy_and_phase_2_continues_it(method, data):
    train, _, test = data
    m, cfg, agent = setup(method)
    torch.manual_seed(0)
    fresh = new_recovery(cfg, *SPACE)
    offline = offline_stage(m, cfg, *SPACE, agent.policy, train, test, seed=0)
    assert not same(state(fresh), state(offline.recovery))  # pi_rec learned offline, with the critic
    before = state(offline.recovery)
    layer, _ = adapt_stage(m, cfg, *SPACE, agent.policy, test, offline, seed=0)
    assert layer.recovery is offline.recovery and not same(before, state(layer.recovery))


@pytest.mark.parametrize("env", sorted(ENVS))
def test_cpu_small_keeps_the_papers_offline_travel(env):
    """cpu-small cuts the offline iterations by f and raises outer_lr and inner_lr_lr by the same f: the
    meta-parameters and MAML's learned inner rates move as far from their init as with the paper's values."""
    paper, small = load_config(env), load_config(env, "cpu-small")
    cut = paper.meta.iterations / small.meta.iterations
    assert cut > 1
    assert small.meta.outer_lr == pytest.approx(cut * paper.meta.outer_lr)
    assert small.meta.inner_lr_lr == pytest.approx(cut * paper.meta.inner_lr_lr)
    assert (small.critic.tau, small.adapt.lr) == (paper.critic.tau, paper.adapt.lr)  # phases 2-3 keep the paper's


@pytest.fixture(scope="module")
def wall_data():
    """Navigation-2 data started near the wall (as the experiment collects it): violations to learn from."""
    train = [collect(ENV, None, "train", num_transitions=1000, seed=s, progress=False, start="near_obstacles")
             for s in (1, 2)]
    test = collect(ENV, None, "test", num_transitions=300, seed=0, progress=False, start="near_obstacles")
    held_out = collect(ENV, None, "test", num_transitions=300, seed=7, progress=False, start="near_obstacles")
    return train, test, held_out


@pytest.mark.parametrize("method", ["rrl", "multitask", "mesa"])
def test_offline_recovery_policy_acts_safer_than_random_actions(method, wall_data):
    """After the offline stage (RRL: its pretraining), Q_risk(s, pi_rec(s)) < Q_risk(s, a_random) on (nearly) every
    held-out state, and on average."""
    train, test, held_out = wall_data
    m = get_method(method)
    cfg = m.configure(load_config(ENV, "smoke", {"meta": {"iterations": 1000}, "adapt": {"pretrain_steps": 1000}}))
    agent = new_agent(cfg, SPACE)
    if m.offline is not None:
        layer = offline_stage(m, cfg, *SPACE, agent.policy, train, test, seed=0)
    else:
        layer, _ = adapt_stage(m, cfg, *SPACE, agent.policy, test, seed=0)
    obs = torch.as_tensor(held_out.s, dtype=torch.float32)
    random = torch.rand(len(obs), 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        q_recovery, q_random = layer.critic(obs, layer.recovery(obs)), layer.critic(obs, random)
    assert (q_recovery < q_random).float().mean() > 0.9 and q_recovery.mean() < q_random.mean()


@pytest.mark.parametrize("method", ["mesa", "multitask"])
def test_offline_oversampling_of_violations_raises_the_risk_learned_there(method, wall_data):
    """meta.pos_fraction (the reference's 30% violating transitions per offline batch): the critic trained with it
    rates the training data's violating transitions riskier, relative to its safe ones, than the uniform one."""
    train, _, _ = wall_data
    m = get_method(method)
    cfg = m.configure(load_config(ENV, "smoke", {"meta": {"iterations": 300, "outer_lr": 1e-3}}))
    agent = new_agent(cfg, SPACE)
    pooled = train[0].arrays()
    violating = pooled["c"] > 0
    assert 0 < violating.sum() < len(violating)
    obs = torch.as_tensor(pooled["s"], dtype=torch.float32)
    act = torch.as_tensor(pooled["a_exec"], dtype=torch.float32)
    at_violations, gaps = [], []
    for pf in (0.0, 0.5):
        c = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, pos_fraction=pf))
        critic = offline_stage(m, c, *SPACE, agent.policy, train, seed=0).critic
        with torch.no_grad():
            q = critic(obs, act).numpy().ravel()
        at_violations.append(q[violating].mean())
        gaps.append(q[violating].mean() - q[~violating].mean())
    assert at_violations[1] > at_violations[0] + 0.1 and gaps[1] > gaps[0] + 0.05
