"""Phase 3 loop: the shield is really in the loop, relabelling, episodes end on violation, log rows, seeding."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mesa_ros.core import online
from mesa_ros.core.collect import collect
from mesa_ros.core.config import load_config
from mesa_ros.core.dataset import DatasetMetadata
from mesa_ros.core.methods import new_critic, new_recovery
from mesa_ros.core.restore import env_spaces, new_agent
from mesa_ros.core.safety_layer import SafetyLayer

torch.set_num_threads(1)
ENV = "Navigation-2"
TASK = {"B": [1.0, 1.0]}
META = DatasetMetadata(ENV, TASK, "test", "online")


def config(**sections):
    """The smoke preset with per-section overrides, e.g. sac={"learning_starts": 0}."""
    return load_config(ENV, "smoke", overrides=sections)


def always_risky_layer(cfg) -> SafetyLayer:
    """A real critic that rates every (s, a) at 0.9 > eps_risk (zero weights, output bias logit(0.9))."""
    space = env_spaces(ENV)
    torch.manual_seed(0)
    layer = SafetyLayer(new_critic(cfg, *space), new_recovery(cfg, *space))
    with torch.no_grad():
        for p in layer.critic.q_risk.parameters():
            p.zero_()
        layer.critic.q_risk.heads[0].layers[-1].bias.fill_(float(np.log(0.9 / 0.1)))
    return layer


def recording(agent, proposals: list[np.ndarray], action=None) -> None:
    """Make ``agent.act`` record what it proposes (and propose ``action`` when given)."""
    act = agent.act

    def spy(obs, deterministic=False):
        a = act(obs, deterministic) if action is None else np.asarray(action, dtype=np.float32)
        proposals.append(np.array(a))
        return a

    agent.act = spy


def test_risky_critic_overrides_every_action_and_task_buffer_keeps_a_task():
    # critic and recovery keep "learning" at lr 0, so the critic stays at 0.9 and pi_rec is fixed and noise-free
    cfg = config(sac={"learning_starts": 0}, critic={"lr": 0.0}, recovery={"lr": 0.0, "noise_std": 0.0})
    layer = always_risky_layer(cfg)
    offline = collect(ENV, TASK, "test", num_transitions=50, seed=1, progress=False)
    agent = new_agent(cfg, env_spaces(ENV))
    proposals: list[np.ndarray] = []
    recording(agent, proposals)

    result = online.run(cfg, TASK, agent, layer, offline, seed=0)

    steps = sum(r["steps"] for r in result.rows)
    assert [r["override_rate"] for r in result.rows] == [1.0] * cfg.online.episodes
    task_data = result.task_buffer.to_dataset(META)
    assert len(task_data) == steps == len(proposals)
    np.testing.assert_allclose(task_data.a_task, np.stack(proposals), rtol=1e-6)  # SAC's buffer: what it proposed
    with torch.no_grad():
        a_rec = layer.recovery(torch.as_tensor(task_data.s, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(task_data.a_exec, a_rec, rtol=1e-5, atol=1e-6)  # executed: always pi_rec(s)
    assert np.abs(task_data.a_task - task_data.a_exec).max() > 0.1
    assert result.task_buffer.sample(8).action.shape == (8, 2)
    # the risk buffer = offline test data, then the online transitions; it samples the executed action
    risk_data = result.risk_buffer.to_dataset(META)
    assert len(risk_data) == len(offline) + steps and result.risk_buffer.action == "exec"
    np.testing.assert_array_equal(risk_data.s[: len(offline)], offline.s)
    np.testing.assert_array_equal(risk_data.a_exec[len(offline):], task_data.a_exec)
    torch.testing.assert_close(layer.critic(torch.zeros(3, 2), torch.zeros(3, 2)), torch.full((3,), 0.9))


def test_unconstrained_executes_a_task_and_never_overrides():
    cfg = config()
    result = online.run(cfg, TASK, new_agent(cfg, env_spaces(ENV)), None, seed=0)
    assert [r["override_rate"] for r in result.rows] == [0.0] * cfg.online.episodes
    data = result.task_buffer.to_dataset(META)
    np.testing.assert_array_equal(data.a_task, data.a_exec)
    assert result.risk_buffer is None and result.safety is None


def test_episodes_end_on_violation_and_rows_are_consistent():
    cfg = config(sac={"learning_starts": 0}, online={"max_episode_steps": 40})
    agent = new_agent(cfg, env_spaces(ENV))
    recording(agent, [], action=[1.0, 0.35])  # straight at the wall; noise decides whether it slips past
    result = online.run(cfg, TASK, agent, None, seed=0, episodes=8)
    rows = result.rows
    violations = [r["violation"] for r in rows]
    assert 0 < sum(violations) < len(rows)  # both kinds of episode happen
    for r in rows:
        assert r["steps"] < 40 if r["violation"] else r["steps"] == 40  # a violation ends the episode at once
    assert [r["cumulative_violations"] for r in rows] == np.cumsum(violations).tolist()
    assert [r["total_steps"] for r in rows] == np.cumsum([r["steps"] for r in rows]).tolist()
    assert [r["episode"] for r in rows] == list(range(1, 9)) and {r["mode"] for r in rows} == {"train"}
    assert all(r["wall_time"] >= 0 for r in rows) and set(rows[0]) == set(online.EPISODE_FIELDS)
    data = result.task_buffer.to_dataset(META)
    ends = data.terminated | data.truncated
    assert ends.sum() == len(rows)
    np.testing.assert_array_equal(data.terminated, data.c == 1.0)  # terminated exactly at violations
    np.testing.assert_array_equal(data.c[ends], violations)


def test_same_seed_same_run_and_eval_rows_do_not_count_as_training():
    cfg = config(online={"eval_every": 2, "episodes": 4})

    def once(seed: int):
        space = env_spaces(ENV)
        agent = new_agent(cfg, space)
        torch.manual_seed(5)
        layer = SafetyLayer(new_critic(cfg, *space), new_recovery(cfg, *space))
        offline = collect(ENV, TASK, "test", num_transitions=40, seed=1, progress=False)
        return online.run(cfg, TASK, agent, layer, offline, seed=seed)

    a, b, c = once(0), once(0), once(1)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert strip(a.rows) == strip(b.rows) and strip(a.rows) != strip(c.rows)
    for x, y in (
        (a.agent.state_dict(), b.agent.state_dict()),
        (a.safety.critic.state_dict(), b.safety.critic.state_dict()),
    ):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert [(r["mode"], r["episode"]) for r in a.rows] == [
        ("train", 1), ("train", 2), ("eval", 2), ("train", 3), ("train", 4), ("eval", 4)]
    train = [r for r in a.rows if r["mode"] == "train"]
    assert train[-1]["total_steps"] == len(a.task_buffer)  # evaluation steps are not stored or learned from


def test_evaluate_does_not_learn():
    cfg = config()
    agent = new_agent(cfg, env_spaces(ENV))
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    rows = online.evaluate(cfg, TASK, agent, episodes=2, seed=0)
    assert len(rows) == 2 and all(r["mode"] == "eval" and r["override_rate"] == 0.0 for r in rows)
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())


def test_offline_data_from_another_env_is_rejected():
    cfg = config()
    layer = always_risky_layer(cfg)
    other = collect("Navigation-1", None, "test", num_transitions=20, seed=0, progress=False)
    with pytest.raises(ValueError, match="Navigation-1"):
        online.run(cfg, TASK, new_agent(cfg, env_spaces(ENV)), layer, other)
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        online.run(dataclasses.replace(cfg, online=dataclasses.replace(cfg.online, episodes=0)), TASK,
                   new_agent(cfg, env_spaces(ENV)))
