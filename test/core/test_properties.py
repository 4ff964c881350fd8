"""Property-based tests (hypothesis) of every input a client or a file can hand us: a clear ValueError or
success, never another exception, and nothing changed on rejection."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesa_ros.core import checkpoint as ck
from mesa_ros.core.collect import collect
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.envs.session import SimSession

ENV = "HalfCheetah-Disabled"
JSONISH = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=3), max_leaves=8)
NAMES = st.sampled_from(["bthigh", "bshin", "ffoot", "tail", "", "0", "BTHIGH"]) | st.text(max_size=6)
SCALES = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 3) | st.text(max_size=3) | st.none()


@pytest.fixture(scope="module")
def session():
    s = SimSession(ENV, seed=0)
    yield s
    s.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(joint=NAMES | st.integers(-8, 8), scale=SCALES)
def test_power_scale_requests(session, joint, scale) -> None:
    before = session.power_scale
    try:
        session.set_power_scale(joint, scale)
    except ValueError:
        assert np.array_equal(session.power_scale, before)
    else:
        assert 0.0 <= float(scale) <= 1.0
    session.clear_faults()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(joints=st.lists(NAMES, max_size=4), scales=SCALES | st.lists(SCALES, max_size=4))
def test_compound_fault_requests(session, joints, scales) -> None:
    before = session.power_scale
    try:
        session.set_faults(joints, scales)
    except (ValueError, TypeError) as exc:
        assert isinstance(exc, ValueError), f"{type(exc).__name__}: {exc}"
        assert np.array_equal(session.power_scale, before)
    session.clear_faults()


@pytest.fixture(scope="module")
def dataset_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ds") / "d.safetensors"
    collect(ENV, {"power_scale": {}}, "test", "random", num_transitions=5, seed=0, progress=False).save(path)
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["format", "schema_version", "dataset"]), value=JSONISH)
def test_dataset_headers(tmp_path_factory, dataset_bytes, key, value) -> None:
    tmp = tmp_path_factory.mktemp("ds")
    raw = dataset_bytes
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    header["__metadata__"][key] = value if isinstance(value, str) else json.dumps(value)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    path = tmp / "fuzzed.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length:])
    try:
        TransitionDataset.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(["format", "version", "env", "modules", "obs_dim", "act_dim", "config", "extra"]),
       value=JSONISH, cut=st.integers(0, 64))
def test_checkpoint_headers_and_truncation(key, value, cut) -> None:
    raw = ck.to_bytes({"critic": SafetyCritic(3, 2)}, ENV, 3, 2, {"critic": {}}, {"stage": "x"})
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    header["__metadata__"][key] = value if isinstance(value, str) else json.dumps(value)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    fuzzed = struct.pack("<Q", len(body)) + body + raw[8 + length:]
    for data in (fuzzed, raw[:len(raw) - cut] if cut else raw[:8]):
        try:
            ck.from_bytes(data, source="fuzzed", env=ENV)
        except ValueError as exc:
            assert "fuzzed" in str(exc)
