"""Transition dataset schema: exact round trips, rejected files, selection, sampling, recording."""
from __future__ import annotations

import dataclasses
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import save_file

from mesa_ros.core.dataset import (
    ARRAY_NAMES,
    SCHEMA_VERSION,
    DatasetMetadata,
    TransitionDataset,
    TransitionRecorder,
    allocate,
    concatenate,
    load,
)

META = DatasetMetadata(
    env="HalfCheetah-Disabled", task={"power_scale": {"ffoot": 0.0}}, split="test", policy="random", seed=7,
    extra={"note": "unit test", "horizon": 5},
)


def make_dataset(n: int = 20, obs_dim: int = 4, act_dim: int = 2, horizon: int = 5, seed: int = 0) -> TransitionDataset:
    """Episodes of ``horizon`` steps; a_task in [0, 1), a_exec in [-1, 0) so they are told apart."""
    rng = np.random.default_rng(seed)
    arrays = allocate(n, obs_dim, act_dim)
    arrays["s"][:] = rng.normal(size=(n, obs_dim))
    arrays["s_next"][:] = rng.normal(size=(n, obs_dim))
    arrays["a_task"][:] = rng.uniform(0, 1, (n, act_dim))
    arrays["a_exec"][:] = rng.uniform(-1, 0, (n, act_dim))
    arrays["r"][:] = rng.normal(size=n)
    arrays["c"][:] = rng.random(n) < 0.3
    arrays["episode"][:] = np.arange(n) // horizon
    arrays["step"][:] = np.arange(n) % horizon
    arrays["truncated"][:] = arrays["step"] == horizon - 1
    return TransitionDataset(**arrays, metadata=META)


def assert_identical(a: TransitionDataset, b: TransitionDataset) -> None:
    for name in ARRAY_NAMES:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name  # bit for bit (also -0.0, subnormals)
    assert a.metadata == b.metadata


def write_raw(path: Path, arrays: dict, header: dict) -> Path:
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata=header)
    return path


def valid_header() -> dict[str, str]:
    return {"format": "mesa_ros.transitions", "schema_version": str(SCHEMA_VERSION), "dataset": META.to_json()}


# -- round trip -------------------------------------------------------------------------------------
def test_round_trip_is_bit_identical(tmp_path):
    data = make_dataset()
    data.s[0, :3] = [-0.0, 5e-324, 1.7976931348623157e308]  # signed zero, subnormal, max float
    path = data.save(tmp_path / "d.safetensors")
    assert_identical(data, load(path))
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write leaves no temporary file


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 12), st.integers(1, 5), st.integers(1, 3), st.data(),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
)
def test_round_trip_property(n, obs_dim, act_dim, data, task):
    finite = st.floats(allow_nan=False, allow_infinity=False)
    arrays = {
        "s": data.draw(hnp.arrays(np.float64, (n, obs_dim), elements=finite)),
        "a_task": data.draw(hnp.arrays(np.float64, (n, act_dim), elements=finite)),
        "a_exec": data.draw(hnp.arrays(np.float64, (n, act_dim), elements=finite)),
        "r": data.draw(hnp.arrays(np.float64, (n,), elements=finite)),
        "c": data.draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]))),
        "s_next": data.draw(hnp.arrays(np.float64, (n, obs_dim), elements=finite)),
        "terminated": data.draw(hnp.arrays(np.bool_, (n,))),
        "truncated": data.draw(hnp.arrays(np.bool_, (n,))),
        "episode": data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 2**40))),
        "step": data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 10**6))),
    }
    meta = DatasetMetadata(env="Cartpole-Length", task=task, split="train", policy="sac", extra={"k": [1, 2]})
    original = TransitionDataset(**arrays, metadata=meta)
    with tempfile.TemporaryDirectory() as tmp:
        assert_identical(original, load(original.save(Path(tmp) / "d.safetensors")))


# -- rejected inputs ----------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors does not exist"):
        load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(4096), b"", pickle.dumps({"s": [1.0]})])
def test_corrupt_or_pickled_file(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.safetensors: not a readable safetensors file"):
        load(path)


def test_foreign_safetensors_file(tmp_path):
    path = write_raw(tmp_path / "weights.safetensors", {"w": np.zeros(3)}, {})
    with pytest.raises(ValueError, match="weights.safetensors: not a mesa_ros transition dataset"):
        load(path)


def test_wrong_schema_version(tmp_path):
    path = write_raw(tmp_path / "v.safetensors", make_dataset().arrays(), {**valid_header(), "schema_version": "999"})
    with pytest.raises(ValueError, match=r"v\.safetensors: schema version '999', this mesa_ros reads version 1"):
        load(path)


def test_missing_and_extra_arrays(tmp_path):
    arrays = make_dataset().arrays()
    del arrays["c"]
    arrays["cost"] = np.zeros(20)
    path = write_raw(tmp_path / "m.safetensors", arrays, valid_header())
    with pytest.raises(ValueError, match=r"m\.safetensors: .*missing \['c'\], unexpected \['cost'\]"):
        load(path)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("s_next", np.zeros((20, 5)), r"'s_next' has shape \(20, 5\), expected \(20, 4\)"),
        ("a_exec", np.zeros((20, 3)), r"'a_exec' has shape \(20, 3\), expected \(20, 2\)"),
        ("r", np.zeros(19), "inconsistent lengths"),
        ("c", np.zeros((20, 1)), r"'c' has shape \(20, 1\), expected 1 dimension"),
        ("s", np.zeros((20, 4), np.float32), "'s' has dtype float32, the schema stores float64"),
        ("terminated", np.zeros(20), "'terminated' has dtype float64, the schema stores bool"),
        ("c", np.full(20, 0.5), "'c' must hold only 0.0 or 1.0"),
        ("step", np.full(20, -1, np.int64), "'step' contains negative"),
    ],
)
def test_bad_arrays_rejected(tmp_path, name, value, message):
    arrays = make_dataset().arrays() | {name: value}
    path = write_raw(tmp_path / "shape.safetensors", arrays, valid_header())
    with pytest.raises(ValueError, match=r"shape\.safetensors: .*" + message):
        load(path)
    with pytest.raises(ValueError, match=message):  # the same check guards construction
        TransitionDataset(**arrays, metadata=META)


@pytest.mark.parametrize("name", ["s", "a_exec", "r", "s_next"])
def test_nan_and_inf_rejected(tmp_path, name):
    arrays = make_dataset().arrays()
    arrays[name] = arrays[name].copy()
    arrays[name][13] = np.nan if name != "r" else np.inf
    path = write_raw(tmp_path / "nan.safetensors", arrays, valid_header())
    message = rf"nan\.safetensors: array '{name}' contains NaN or inf \(first at transition 13\)"
    with pytest.raises(ValueError, match=message):
        load(path)


def test_bad_metadata_rejected(tmp_path):
    doc = json.loads(META.to_json())
    del doc["policy"]
    header = valid_header() | {"dataset": json.dumps(doc)}
    path = write_raw(tmp_path / "meta.safetensors", make_dataset().arrays(), header)
    with pytest.raises(ValueError, match=r"meta\.safetensors: .*missing \['policy'\]"):
        load(path)
    with pytest.raises(ValueError, match="split must be one of"):
        DatasetMetadata(env="x", task={}, split="validation", policy="random")
    with pytest.raises(ValueError, match="extra must be JSON-serialisable"):
        DatasetMetadata(env="x", task={}, split="train", policy="random", extra={"f": float("nan")})
    assert DatasetMetadata(env="x", task={"L": (1, 2)}, split="train", policy="random").task == {"L": [1, 2]}


# -- selection, sampling, summary -------------------------------------------------------------------------
def test_concatenate_renumbers_episodes():
    a, b = make_dataset(10), make_dataset(7, seed=1)
    both = concatenate([a, b])
    assert len(both) == 17 and both.num_episodes == 4
    np.testing.assert_array_equal(both.episode, [0] * 5 + [1] * 5 + [2] * 5 + [3] * 2)
    np.testing.assert_array_equal(both.s, np.concatenate([a.s, b.s]))
    other = DatasetMetadata(env="HalfCheetah-Disabled", task={}, split="train", policy="random")
    b_other = TransitionDataset(**b.arrays(), metadata=other)
    with pytest.raises(ValueError, match="different metadata"):
        concatenate([a, b_other])
    assert concatenate([a, b_other], metadata=other).metadata == other
    with pytest.raises(ValueError, match="different"):
        concatenate([a, make_dataset(5, obs_dim=3)])


def test_fraction_by_transitions_and_episodes():
    data = make_dataset(20, horizon=5)  # 4 episodes
    quarter = data.fraction(0.25)
    assert len(quarter) == 5 and np.array_equal(quarter.s, data.s[:5])
    assert len(data.fraction(0.3)) == 6  # may end inside an episode
    half = data.fraction(0.5, unit="episodes")
    assert half.num_episodes == 2 and len(half) == 10 and np.array_equal(half.episode, data.episode[:10])
    assert len(data.fraction(0.01)) == 1 and data.fraction(0.01, unit="episodes").num_episodes == 1
    half.s[0, 0] = 99.0
    assert data.s[0, 0] != 99.0  # a copy
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        data.fraction(0.0)


def test_sample_picks_requested_action_as_float32():
    data = make_dataset(50)
    batch = data.sample(256, np.random.default_rng(0))
    assert batch.obs.dtype == torch.float32 and batch.obs.shape == (256, 4) and batch.reward.shape == (256,)
    assert (batch.action < 0).all()  # default: executed action (the critic's)
    task = data.sample(256, np.random.default_rng(0), action="task")
    assert (task.action >= 0).all()
    torch.testing.assert_close(task.obs, batch.obs)  # same rng -> same rows
    rows = [int(np.flatnonzero((data.s.astype(np.float32) == o.numpy()).all(1))[0]) for o in batch.obs[:20]]
    torch.testing.assert_close(batch.next_obs[:20], torch.from_numpy(data.s_next[rows].astype(np.float32)))
    torch.testing.assert_close(batch.cost[:20], torch.from_numpy(data.c[rows].astype(np.float32)))
    with pytest.raises(ValueError, match="action must be one of"):
        data.sample(4, np.random.default_rng(0), action="rec")


def test_sample_with_a_share_of_violations():
    data = make_dataset(1000)  # ~30% violating
    rare = dataclasses.replace(data, c=np.where(np.arange(1000) < 5, 1.0, 0.0).astype(data.c.dtype))  # 5 of 1000
    for d in (data, rare):
        batch = d.sample(1000, np.random.default_rng(0), pos_fraction=0.3)
        assert batch.cost.mean().item() == pytest.approx(0.3)  # 300 from the violating, 700 from the others
    assert rare.sample(4000, np.random.default_rng(0)).cost.mean().item() < 0.01  # default: uniform
    none = dataclasses.replace(data, c=np.zeros_like(data.c))
    assert none.sample(100, np.random.default_rng(0), pos_fraction=0.3).cost.sum() == 0  # nothing to oversample
    with pytest.raises(ValueError, match=r"pos_fraction must be in \[0, 1\], got 1.5"):
        data.sample(4, np.random.default_rng(0), pos_fraction=1.5)


def test_counts_and_summary():
    data = make_dataset(20)
    assert data.num_violations == int(data.c.sum()) > 0
    text = data.summary()
    assert f"20 transitions, 4 episodes, {data.num_violations} violations" in text and "ffoot" in text


# -- recorder --------------------------------------------------------------------------------------
def test_recorder_tracks_episodes_grows_and_cuts():
    rec = TransitionRecorder(obs_dim=2, act_dim=1, capacity=2)
    ends = {2: "terminated", 5: "truncated"}
    for i in range(8):
        rec.add(np.full(2, i), [i], [-i], 1.0, float(i == 3), np.full(2, i + 1),
                ends.get(i) == "terminated", ends.get(i) == "truncated")  # fmt: skip
    assert len(rec) == 8 and rec.capacity >= 8
    data = rec.to_dataset(META)
    np.testing.assert_array_equal(data.episode, [0, 0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(data.step, [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(data.s[:, 0], np.arange(8))
    np.testing.assert_array_equal(data.truncated, [0, 0, 0, 0, 0, 1, 0, 1])  # open episode cut in the copy
    assert data.num_violations == 1 and data.terminated[2]
    rec.add(np.zeros(2), [0], [0], 0.0, 0.0, np.zeros(2), False, False)
    assert rec.to_dataset(META).episode[-1] == 2  # the recorder itself continued the episode
    rec.finish_episode()
    rec.add(np.zeros(2), [0], [0], 0.0, 0.0, np.zeros(2), False, False)
    data = rec.to_dataset(META)
    assert data.truncated[8] and data.episode[-1] == 3 and data.step[-1] == 0
