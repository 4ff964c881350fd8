"""The model-lookahead shield (core/lookahead.py) on a 1-D system with a cliff: s' = s + gain * a, a catastrophe
when s' > 1. The risk counts falls the policy reaches within the horizon, not only at the first step; an override
replaces a_task by a safe action; adapting the model to a dead actuator (a fault) changes what is risky when
the predicted next state is judged by a state classifier."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mesa_ros.core.carl import EnsembleConfig, ProbabilisticEnsemble, adapt_ensemble, fit_ensemble
from mesa_ros.core.catastrophe import CatastropheClassifier, fit_catastrophe
from mesa_ros.core.config import LookaheadConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, allocate
from mesa_ros.core.inference import FrozenCatastrophe, FrozenEnsemble, numpy_state
from mesa_ros.core.lookahead import ModelLookahead, StateJudged

META = DatasetMetadata(env="cliff", task={}, split="train", policy="random", seed=0, extra={})
FIT = EnsembleConfig(hidden=(32, 32), batch_size=256, steps=1500)


def cliff_data(n: int, gain: float, seed: int, low: float = -2.0) -> TransitionDataset:
    """Uniform states in [low, 1) and actions of the cliff system, one transition per episode."""
    rng = np.random.default_rng(seed)
    arrays = allocate(n, 1, 1)
    arrays["s"][:, 0] = rng.uniform(low, 1, n)
    arrays["a_exec"][:, 0] = arrays["a_task"][:, 0] = rng.uniform(-1, 1, n)
    arrays["s_next"][:] = arrays["s"] + gain * arrays["a_exec"]
    arrays["c"][:] = arrays["s_next"][:, 0] > 1
    arrays["episode"][:] = np.arange(n)
    arrays["terminated"][:] = arrays["c"]
    arrays["truncated"][:] = arrays["c"] == 0
    return TransitionDataset(**arrays, metadata=META)


@pytest.fixture(scope="module")
def fitted() -> tuple[ProbabilisticEnsemble, TransitionDataset]:
    torch.manual_seed(0)
    train = cliff_data(4000, gain=0.3, seed=0)
    model = ProbabilisticEnsemble(1, 1, hidden=FIT.hidden)
    model.standardise_on(train.s, train.a_exec, train.s_next)
    fit_ensemble(model, train.s, train.a_exec, train.s_next, train.c, FIT, np.random.default_rng(0))
    return model, train


@pytest.fixture(scope="module")
def fall(fitted) -> FrozenCatastrophe:
    """c_hat(s') learned from the training transitions: s' > 1."""
    _, train = fitted
    clf = CatastropheClassifier(1, hidden=(32, 32))
    fit_catastrophe(clf, train.s_next, train.c, steps=1500, batch_size=256, rng=np.random.default_rng(0))
    return FrozenCatastrophe(numpy_state(clf))


def shield(model: ProbabilisticEnsemble, policy, fall: FrozenCatastrophe | None = None, **cfg) -> ModelLookahead:
    frozen = FrozenEnsemble(numpy_state(model))
    bounds = np.array([-1.0]), np.array([1.0])
    return ModelLookahead(frozen if fall is None else StateJudged(frozen, fall), policy, *bounds,
                          LookaheadConfig(**cfg), seed=0)


def push(s: np.ndarray) -> np.ndarray:
    """A policy that walks towards the cliff at full power."""
    return np.ones((len(s), 1), dtype=np.float32)


def back_off(s: np.ndarray) -> np.ndarray:
    """A policy that walks back to 0."""
    return np.clip(-s, -1, 1).astype(np.float32)


def test_the_risk_counts_falls_the_policy_reaches_within_the_horizon(fitted):
    model, _ = fitted
    obs, a_task = np.array([0.0], np.float32), np.array([[[1.0]]], np.float32)  # the cliff 4 steps away
    assert shield(model, push, horizon=10).risk(obs, a_task)[0] > 0.9
    assert shield(model, push, horizon=2).risk(obs, a_task)[0] < 0.1
    assert shield(model, back_off, horizon=10).risk(obs, a_task)[0] < 0.1


def test_a_risky_task_action_is_replaced_by_a_safe_action_and_a_safe_one_kept(fitted):
    model, _ = fitted
    guard = shield(model, back_off, horizon=5, candidates=64)
    edge = np.array([0.9], np.float32)
    decision = guard(edge, np.array([1.0], np.float32))  # 0.9 + 0.3 = 1.2: over the cliff
    assert decision.overridden and decision.risk > 0.9
    assert 0.9 + 0.3 * decision.action[0] < 1.0  # the executed step stays on the cliff
    assert guard.risk(edge, decision.action[None, None])[0] <= guard.cfg.eps_risk  # and after it, the policy too
    kept = guard(np.array([0.0], np.float32), np.array([0.5], np.float32))
    assert not kept.overridden and kept.action[0] == 0.5 and kept.risk < 0.1


def test_a_reported_risk_leaves_the_decisions_as_they_were(fitted):
    model, _ = fitted
    first, second = (shield(model, back_off, horizon=5, candidates=16) for _ in range(2))
    edge, a = np.array([0.9], np.float32), np.array([1.0], np.float32)  # over the cliff: every decision searches
    reported = second.risk_of(edge, a)  # a disabled monitor's report before the first decision
    assert reported > first.eps_risk
    picks = [(first(edge, a).action[0], second(edge, a).action[0]) for _ in range(5)]
    assert all(x == y for x, y in picks), picks


def test_the_search_picks_the_least_risky_candidate_ties_to_the_closest(fitted):
    model, _ = fitted
    falls = np.zeros((4, 20), bool)  # a_task and three candidates
    falls[0, :10] = falls[1, :4] = True  # a_task: risk 0.5; candidate 1: 0.2
    falls[2, :2] = falls[3, :2] = True  # candidates 2 and 3: 0.1 each, 3 closer to a_task
    guard = shield(model, back_off, candidates=3, member_risk="mean")  # the risks below: shares of all 20
    guard.falls = lambda obs, seq, scales=None, rng=None: falls
    guard.candidates = lambda a: np.array([[[0.0]], [[0.1]], [[0.6]], [[-0.4]]], np.float32)
    cand, risks, pick = guard.search(np.zeros(1, np.float32), np.zeros(1, np.float32))
    assert pick == 3 and risks.tolist() == [0.5, 0.2, 0.1, 0.1]


def test_with_a_budget_the_search_decides_among_the_batches_it_had_time_for(fitted):
    model, _ = fitted
    guard = shield(model, back_off, horizon=5, candidates=32, search_chunk=8, sigma=1.0)
    edge, over = np.array([0.9], np.float32), np.array([1.0], np.float32)
    batches: list[int] = []
    risk = guard.risk
    guard.risk = lambda obs, seq, rng=None: batches.append(len(seq)) or risk(obs, seq, rng)
    cand, risks, pick = guard.search(edge, over, deadline=0.0)  # already past: the first batch only
    assert batches == [8] and np.isnan(risks[8:]).all() and not np.isnan(risks[:8]).any() and pick < 8
    batches.clear()
    guard.search(edge, over, deadline=float("inf"))
    assert batches == [8, 8, 8, 8, 1]  # a_task and 32 candidates, in batches of 8
    batches.clear()
    guard.search(edge, over)  # no deadline: one batch of every sequence, as before budgets
    assert batches == [33]
    guard = shield(model, back_off, horizon=5, candidates=32, search_chunk=16, sigma=1.0)
    guard.budget_s = 1e-9  # through the eps rule: a_task's risk, then one batch, and an override from it
    batches.clear()
    risk = guard.risk
    guard.risk = lambda obs, seq, rng=None: batches.append(len(seq)) or risk(obs, seq, rng)
    decision = guard(edge, np.array([0.0], np.float32))  # the model's risk > eps_risk: it searches
    assert batches == [1, 16] and decision.overridden and decision.action[0] < 0.0


def test_the_state_classifier_knows_where_the_cliff_is(fall):
    p = fall(np.array([[0.5], [0.9], [1.1], [1.5]], np.float32))
    assert p[0] < 0.1 and p[1] < 0.5 < p[2] and p[3] > 0.9


def test_adapting_to_a_dead_actuator_changes_what_is_risky_when_the_next_state_is_judged(fitted, fall):
    model, train = fitted
    obs, step = np.array([0.8], np.float32), np.array([[[1.0]]], np.float32)  # 0.8 + 0.3 falls, 0.8 + 0 not
    assert shield(model, push, horizon=1).risk(obs, step)[0] > 0.9
    assert shield(model, push, fall, horizon=1).risk(obs, step)[0] > 0.9
    adapted = ProbabilisticEnsemble(1, 1, hidden=FIT.hidden)
    adapted.load_state_dict(model.state_dict())
    post = cliff_data(200, gain=0.0, seed=1, low=0.5)  # the fault (total loss of power), near the cliff
    cfg = EnsembleConfig(hidden=FIT.hidden, batch_size=256, steps=1000)
    losses = adapt_ensemble(adapted, train, post, cfg, np.random.default_rng(1), post_share=0.9)
    assert losses["post_repeat"] == 180  # 200 x 180 = 9 x the 4000 of the training faults
    assert shield(adapted, push, fall, horizon=1).risk(obs, step)[0] < 0.1
    # the transition head still half believes the training faults' outcome there: the reason for StateJudged
    assert shield(adapted, push, horizon=1).risk(obs, step)[0] > 0.3


def test_the_frozen_ensemble_predicts_as_the_torch_model(fitted):
    model, train = fitted
    s, a = train.s[:40].astype(np.float32), train.a_exec[:40].astype(np.float32)
    mean, logvar, logit = FrozenEnsemble(numpy_state(model)).predict(s, a)
    with torch.no_grad():  # row i follows member i mod 5
        ref = model(torch.as_tensor(s).view(8, 5, 1).transpose(0, 1), torch.as_tensor(a).view(8, 5, 1).transpose(0, 1))
    for got, want in zip((mean, logvar, logit), ref):
        np.testing.assert_allclose(got.reshape(40, -1), want.transpose(0, 1).reshape(40, -1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="multiple"):
        FrozenEnsemble(numpy_state(model)).predict(s[:7], a[:7])
    with pytest.raises(ValueError, match="out.weight"):
        FrozenEnsemble({k: v for k, v in numpy_state(model).items() if k != "out.weight"})


def test_bad_settings_are_refused(fitted):
    model, train = fitted
    with pytest.raises(ValueError, match="particles"):
        shield(model, push, particles=12)
    with pytest.raises(ValueError, match="search_chunk"):
        shield(model, push, search_chunk=0)
    with pytest.raises(ValueError, match="post_share"):
        adapt_ensemble(model, train, train, FIT, np.random.default_rng(0), post_share=1.0)
    with pytest.raises(ValueError, match="0 violations"):
        fit_catastrophe(CatastropheClassifier(1), train.s, np.zeros(len(train)), 1, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no post-fault"):
        adapt_ensemble(model, train, train.subset(slice(0, 0)), FIT, np.random.default_rng(0))


class OneMemberFalls:
    """A model of 5 members of which only member 0 predicts a fall (row i follows member i mod 5): the members
    disagree."""

    members, obs_dim, act_dim = 5, 1, 1

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return s, (np.arange(len(s)) % self.members == 0).astype(np.float32)


@pytest.mark.parametrize(("member_risk", "expected"), [("mean", 0.2), ("max", 1.0)])
def test_member_risk_max_takes_the_pessimistic_member(member_risk: str, expected: float) -> None:
    guard = ModelLookahead(OneMemberFalls(), push, np.array([-1.0]), np.array([1.0]),
                           LookaheadConfig(member_risk=member_risk, eps_risk=0.5, horizon=3), seed=0)
    obs, a_task = np.zeros(1, np.float32), np.zeros(1, np.float32)
    assert guard.risk_of(obs, a_task) == pytest.approx(expected)
    decision = guard(obs, a_task)
    assert decision.risk == pytest.approx(expected)
    assert decision.overridden is False  # every candidate is as risky: ties go to a_task
    assert guard.scale_risks(obs, np.array([0.5, 1.0])) == pytest.approx([expected, expected])


def test_member_risk_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="lookahead.member_risk='worst'"):
        LookaheadConfig(member_risk="worst")
