"""MAML meta-gradient: torch.func == per-task loop, second order is really there, MetaLearner mechanics."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import MetaConfig, SafetyCriticConfig
from mesa_ros.core.maml import Compiled, MetaLearner, inverse_softplus, meta_gradient_func, meta_gradient_loop
from mesa_ros.core.networks import QRisk
from mesa_ros.core.safety_critic import SafetyCritic

torch.set_num_threads(1)
OBS_DIM, ACT_DIM, K, B = 3, 2, 4, 16


def task_data(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(K, B, OBS_DIM, generator=g, dtype=dtype), torch.randn(K, B, ACT_DIM, generator=g, dtype=dtype),
            torch.rand(K, B, generator=g, dtype=dtype))


def setup(dtype: torch.dtype, twin: bool = False, inner_lr: float = 0.3, wlinear: bool = False):
    torch.manual_seed(0)
    q_risk = QRisk(OBS_DIM, ACT_DIM, (8, 8), twin=twin, wlinear=wlinear).to(dtype)
    params = {n: p.detach() for n, p in q_risk.named_parameters()}
    # distinct rates per tensor, so a mix-up between tensors would show
    raw = {n: torch.tensor(inverse_softplus(inner_lr * (1 + 0.1 * i)), dtype=dtype) for i, n in enumerate(params)}
    return q_risk, params, raw, task_data(dtype, 1), task_data(dtype, 2)


def assert_same(a, b, atol: float) -> None:
    for name in a.params:
        torch.testing.assert_close(a.params[name], b.params[name], atol=atol, rtol=0)
        torch.testing.assert_close(a.inner_lr[name], b.inner_lr[name], atol=atol, rtol=0)
    torch.testing.assert_close(a.inner_loss, b.inner_loss, atol=atol, rtol=0)
    torch.testing.assert_close(a.outer_loss, b.outer_loss, atol=atol, rtol=0)


@pytest.mark.parametrize(("twin", "wlinear"), [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("first_order", [False, True])
def test_func_meta_gradient_equals_loop_float64(twin: bool, wlinear: bool, first_order: bool) -> None:
    q_risk, params, raw, inner, outer = setup(torch.float64, twin, wlinear=wlinear)
    func = meta_gradient_func(q_risk, params, raw, inner, outer, first_order=first_order)
    loop = meta_gradient_loop(q_risk, params, raw, inner, outer, first_order=first_order)
    assert func.inner_loss.shape == func.outer_loss.shape == (K,)
    assert all(g.abs().sum() > 0 for g in func.params.values())
    assert all(g.abs() > 0 for g in func.inner_lr.values())
    assert_same(func, loop, atol=1e-10)


def test_func_meta_gradient_equals_loop_float32() -> None:
    q_risk, params, raw, inner, outer = setup(torch.float32)
    assert_same(meta_gradient_func(q_risk, params, raw, inner, outer),
                meta_gradient_loop(q_risk, params, raw, inner, outer), atol=1e-5)


def meta_loss(q_risk, params, raw, inner, outer) -> float:
    return meta_gradient_loop(q_risk, params, raw, inner, outer).outer_loss.mean().item()


def finite_difference(q_risk, params, raw, inner, outer, which: str, name: str, index: tuple[int, ...],
                      h: float = 1e-6) -> float:
    """Central difference of the meta-loss in one coordinate of ``params`` or of the raw inner rates."""
    def shifted(delta: float) -> float:
        p = {n: t.clone() for n, t in params.items()}
        r = {n: t.clone() for n, t in raw.items()}
        (p if which == "params" else r)[name][index] += delta
        return meta_loss(q_risk, p, r, inner, outer)
    return (shifted(h) - shifted(-h)) / (2 * h)


def test_second_order_matches_finite_differences_and_first_order_does_not() -> None:
    q_risk, params, raw, inner, outer = setup(torch.float64, inner_lr=0.5)
    second = meta_gradient_func(q_risk, params, raw, inner, outer)
    first = meta_gradient_func(q_risk, params, raw, inner, outer, first_order=True)
    fo_errors = []
    for name in params:  # the largest entry of every parameter tensor
        index = tuple(int(i) for i in torch.unravel_index(second.params[name].abs().argmax(), params[name].shape))
        fd = finite_difference(q_risk, params, raw, inner, outer, "params", name, index)
        assert second.params[name][index].item() == pytest.approx(fd, rel=1e-5, abs=1e-10), name
        fo_errors.append(abs(first.params[name][index].item() - fd) / abs(fd))
    assert max(fo_errors) > 0.1  # dropping the Hessian term changes the meta-gradient measurably
    total = sum((second.params[n] - first.params[n]).norm() ** 2 for n in params).sqrt()
    assert total > 1e-2 * sum(g.norm() ** 2 for g in second.params.values()).sqrt()


def test_inner_lr_gradient_matches_finite_differences() -> None:
    q_risk, params, raw, inner, outer = setup(torch.float64)
    g = meta_gradient_func(q_risk, params, raw, inner, outer)
    fds = {name: finite_difference(q_risk, params, raw, inner, outer, "inner_lr", name, ()) for name in raw}
    for name, fd in fds.items():
        assert g.inner_lr[name].item() == pytest.approx(fd, rel=1e-5, abs=1e-10), name
    assert max(abs(fd) for fd in fds.values()) > 1e-4


def stacked_batch(seed: int, dtype: torch.dtype = torch.float32) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(obs=torch.randn(K, B, OBS_DIM, generator=g, dtype=dtype),
                 action=torch.rand(K, B, ACT_DIM, generator=g, dtype=dtype) * 2 - 1,
                 reward=torch.zeros(K, B, dtype=dtype),
                 cost=(torch.rand(K, B, generator=g) < 0.3).to(dtype),
                 next_obs=torch.randn(K, B, OBS_DIM, generator=g, dtype=dtype),
                 terminated=torch.zeros(K, B, dtype=dtype))


def policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.tanh(obs[:, :ACT_DIM])


def test_inner_lr_is_softplus_initialised_to_config_value() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8, 8)))
    learner = MetaLearner(critic, MetaConfig(inner_lr_init=1e-3))
    assert set(learner.inner_lr()) == {n for n, _ in learner.critic.q_risk.named_parameters()}
    assert all(math.isclose(v, 1e-3, rel_tol=1e-5) for v in learner.inner_lr().values())
    assert F.softplus(torch.tensor(inverse_softplus(0.25))).item() == pytest.approx(0.25)


def test_meta_step_func_and_loop_give_the_same_update() -> None:
    cfg = MetaConfig(outer_lr=1e-2, inner_lr_init=0.1, inner_lr_lr=1e-2)
    def meta_parameters(learner: MetaLearner) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in learner.params.items()}

    learners = {}
    for impl in ("func", "loop"):
        torch.manual_seed(0)
        critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8, 8), tau=0.1)).double()
        learners[impl] = MetaLearner(critic, cfg, implementation=impl)
    start = meta_parameters(learners["func"])
    for it in range(3):
        inner, outer = stacked_batch(2 * it, torch.float64), stacked_batch(2 * it + 1, torch.float64)
        metrics = {impl: learner.meta_step(inner, outer, policy) for impl, learner in learners.items()}
        assert metrics["func"] == pytest.approx(metrics["loop"], rel=1e-9)
    for name, p in meta_parameters(learners["func"]).items():
        torch.testing.assert_close(p, meta_parameters(learners["loop"])[name], atol=1e-12, rtol=0)
        assert not torch.equal(p, start[name])
    assert learners["func"].inner_lr() == pytest.approx(learners["loop"].inner_lr(), rel=1e-9)
    assert learners["func"].inner_lr() != pytest.approx({n: 0.1 for n in start}, rel=1e-6)  # rates are learned


def test_compiled_meta_gradient_equals_the_loop_and_falls_back_when_compilation_fails(monkeypatch) -> None:
    cfg = MetaConfig(outer_lr=1e-2, inner_lr_init=0.1, inner_lr_lr=1e-2, compile=True)
    torch.manual_seed(0)
    learner = MetaLearner(SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8, 8))), cfg)
    assert isinstance(learner.meta_gradient, Compiled)
    q_risk, params, raw, inner, outer = setup(torch.float32)
    assert_same(learner.meta_gradient(q_risk, params, raw, inner, outer),
                meta_gradient_loop(q_risk, params, raw, inner, outer), atol=1e-5)

    def broken(*_args, **_kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda fn, **_kwargs: broken)
    fallback = MetaLearner(SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8, 8))), cfg)
    with pytest.warns(RuntimeWarning, match="torch.compile of the meta-gradient failed .*no C\\+\\+ compiler"):
        got = fallback.meta_gradient(q_risk, params, raw, inner, outer)
    assert_same(got, meta_gradient_func(q_risk, params, raw, inner, outer), atol=0)


def test_meta_step_clips_the_outer_gradient_and_bootstraps_from_the_meta_parameters() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8, 8), tau=0.25))
    with torch.no_grad():  # a target network that differs from theta must not be read
        for p in critic.q_risk_target.parameters():
            p.add_(1.0)
    learner = MetaLearner(critic, MetaConfig(grad_clip=1e-3, outer_lr=1e-2))
    target_before = [p.clone() for p in critic.q_risk_target.parameters()]
    seen: list[torch.Tensor] = []
    original = learner.meta_gradient
    learner.meta_gradient = lambda q, params, raw, inner, outer, **kw: (seen.append(inner[2]), original(
        q, params, raw, inner, outer, **kw))[1]
    batch = stacked_batch(0)
    expected = critic.target_value(batch, policy, current=True)
    assert not torch.allclose(expected, critic.target_value(batch, policy, current=False))
    metrics = learner.meta_step(batch, stacked_batch(1), policy)
    torch.testing.assert_close(seen[0], expected)  # inner targets from theta, not from the target network
    assert set(metrics) == {"inner_loss", "outer_loss", "grad_norm"}
    assert metrics["grad_norm"] > 1e-2  # reported before clipping
    clipped = torch.cat([p.grad.flatten() for p in critic.q_risk.parameters()]).norm()
    assert clipped.item() == pytest.approx(1e-3, rel=1e-3)
    for t0, t in zip(target_before, critic.q_risk_target.parameters()):
        torch.testing.assert_close(t, t0)  # phase 1 keeps no target network: nothing soft-updated


def test_meta_training_lowers_the_post_adaptation_loss() -> None:
    torch.manual_seed(0)
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(16, 16), gamma_risk=0.0))
    learner = MetaLearner(critic, MetaConfig(outer_lr=3e-3, inner_lr_init=0.1, inner_lr_lr=1e-2))
    inner, outer = stacked_batch(0), stacked_batch(1)
    first = learner.meta_step(inner, outer, policy)["outer_loss"]
    for _ in range(60):
        last = learner.meta_step(inner, outer, policy)["outer_loss"]
    assert last < 0.8 * first


def test_unknown_implementation_is_rejected() -> None:
    critic = SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=(8,)))
    with pytest.raises(ValueError, match="unknown MAML implementation"):
        MetaLearner(critic, implementation="jax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="single inner step"):
        MetaLearner(critic, MetaConfig(inner_steps=2))
