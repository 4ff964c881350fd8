"""Replay buffer: ring wrap-around, which action a sample carries, conversion from/to datasets."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.dataset import ARRAY_NAMES, DatasetMetadata

META = DatasetMetadata(env="Navigation-1", task={"B": [[1.0, 0.0], [0.0, 0.7]]}, split="test", policy="random", seed=3)


def fill(buffer: ReplayBuffer, n: int, horizon: int = 4) -> None:
    """Transition i: s = (i, i), a_task = +i, a_exec = -i - 1, s' = s + 1, c = 1 every 3rd, episodes of ``horizon``."""
    for i in range(n):
        s = np.full(buffer.obs_dim, float(i))
        buffer.add(s, np.full(buffer.act_dim, float(i)), np.full(buffer.act_dim, -i - 1.0), 0.5 * i, float(i % 3 == 0),
                   s + 1, False, (i + 1) % horizon == 0)  # fmt: skip


def test_ring_wraps_and_exports_oldest_first():
    buffer = ReplayBuffer(obs_dim=2, act_dim=1, capacity=5)
    fill(buffer, 12)
    assert len(buffer) == buffer.capacity == 5
    data = buffer.to_dataset(META)
    np.testing.assert_array_equal(data.s[:, 0], [7, 8, 9, 10, 11])
    np.testing.assert_array_equal(data.a_exec[:, 0], [-8, -9, -10, -11, -12])
    np.testing.assert_array_equal(data.episode, [1, 2, 2, 2, 2])
    np.testing.assert_array_equal(data.step, [3, 0, 1, 2, 3])
    np.testing.assert_array_equal(data.truncated, [True, False, False, False, True])
    assert set(buffer.sample(500).obs[:, 0].tolist()) == {7.0, 8.0, 9.0, 10.0, 11.0}  # overwritten ones are gone


def test_sample_returns_requested_action_kind():
    task_buffer = ReplayBuffer(obs_dim=2, act_dim=3, capacity=100, action="task", seed=0)
    risk_buffer = ReplayBuffer(obs_dim=2, act_dim=3, capacity=100, action="exec", seed=0)
    for buffer in (task_buffer, risk_buffer):
        fill(buffer, 30)
    task_batch, risk_batch = task_buffer.sample(64), risk_buffer.sample(64)
    i = task_batch.obs[:, 0]
    assert task_batch.action.shape == (64, 3)
    assert (task_batch.action == i[:, None]).all()  # the proposed action a_task (relabelling)
    assert (risk_batch.action == -risk_batch.obs[:, :1] - 1).all()  # the executed action a_exec
    assert (task_buffer.sample(64, action="exec").action < 0).all()  # per-call override
    assert (task_batch.next_obs == task_batch.obs + 1).all() and (task_batch.reward == 0.5 * i).all()
    assert (task_batch.cost == (i % 3 == 0).float()).all()
    with pytest.raises(ValueError, match="action must be"):
        ReplayBuffer(2, 3, 10, action="rec")


def test_sampling_is_seeded_and_empty_buffer_rejected():
    a, b = ReplayBuffer(2, 1, 50, seed=4), ReplayBuffer(2, 1, 50, seed=4)
    with pytest.raises(ValueError, match="empty replay buffer"):
        a.sample(1)
    fill(a, 50)
    fill(b, 50)
    assert (a.sample(32).obs == b.sample(32).obs).all()


def test_dataset_round_trip_and_continue():
    source = ReplayBuffer(obs_dim=2, act_dim=1, capacity=20)
    fill(source, 10)  # last episode (8, 9) still open
    data = source.to_dataset(META)
    assert data.truncated[-1]  # cut by the export
    buffer = ReplayBuffer.from_dataset(data, capacity=20, action="exec", seed=1)
    assert len(buffer) == 10 and buffer.action == "exec"
    again = buffer.to_dataset(META)
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(again, name), getattr(data, name), err_msg=name)
    fill(buffer, 3)  # new steps form a new episode
    cont = buffer.to_dataset(META)
    np.testing.assert_array_equal(cont.episode[-3:], [3, 3, 3])
    np.testing.assert_array_equal(cont.step[-3:], [0, 1, 2])
    small = ReplayBuffer.from_dataset(data, capacity=4)  # keeps the newest transitions
    np.testing.assert_array_equal(small.to_dataset(META).s[:, 0], [6, 7, 8, 9])
    fill(small, 1)
    np.testing.assert_array_equal(small.to_dataset(META).s[:, 0], [7, 8, 9, 0])
