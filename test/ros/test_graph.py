"""The cheetah_fault graph end to end over real DDS (separate processes, lockstep), and its bag."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mesa_ros import wire
from mesa_ros.core.bag_dataset import bag_to_datasets, read_transitions
from mesa_ros.core.bags import ReadReport, read_messages

from observer import CRITIC_ALONE
from sim_driver import assert_replays

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
STEPS, FAULT_STEP = 2500, 300


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory, checkpoints, params_file, ros_env) -> dict:
    out = tmp_path_factory.mktemp("graph")
    cmd = [str(MESA_ROS), "launch", "cheetah_fault", CRITIC_ALONE, f"policy_checkpoint:={checkpoints['policy']}",
           f"safety_checkpoint:={checkpoints['safety']}", f"max_steps:={STEPS}", f"fault_step:={FAULT_STEP}",
           "record_bag:=true", f"bag_dir:={out / 'bag'}", f"params_file:={params_file}", "fault:=ffoot",
           "sync_adaptation:=true"]  # the simulator waits for the adaptation node: the shield is on in time on any load
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=240)
    return {"code": result.returncode, "log": result.stdout + result.stderr, "bag": out / "bag"}


def test_graph_runs_adapts_and_shields_without_node_errors(graph_run) -> None:
    log = graph_run["log"]
    assert graph_run["code"] == 0, log[-3000:]
    for bad in ("Traceback", "fatal", "died unexpectedly", "ERROR"):
        assert bad not in log, log[-3000:]
    assert f"scheduled fault at step {FAULT_STEP}: ffoot power scale set to 0" in log
    assert "subscribers matched" in log  # the start gates waited for the recorder and the answering nodes
    assert "fault announced by /mujoco_sim/fault_event" in log
    assert "[safety_monitor] " in log and "shield enabled (weights v2" in log  # adapted weights arrived first
    assert f"max_steps={STEPS} reached" in log


def test_overrides_happen_only_after_the_shield_is_enabled(graph_run) -> None:
    risk = [(t, {n: v for n, v in zip(m.name, m.position)}) for topic, t, m in
            read_messages(graph_run["bag"], {wire.RISK})]
    enabled = [v["shield_enabled"] for _, v in risk]
    first_on = enabled.index(1.0)
    assert first_on > FAULT_STEP  # collection (200 transitions) and phase 2 come first
    assert not any(v["overridden"] for _, v in risk[:first_on])
    assert sum(v["overridden"] for _, v in risk[first_on:]) > 0
    assert all(v["weights_version"] >= 2 for _, v in risk[first_on:])


def test_bag_converts_into_exactly_the_executed_transitions(graph_run) -> None:
    report = ReadReport()
    transitions, faults = read_transitions(graph_run["bag"], "HalfCheetah-Disabled", report)
    assert len(transitions) == STEPS and not report.recovered
    assert_replays(transitions, faults)
    overridden = [not np.array_equal(t.a_task, t.a_exec) for t in transitions]
    assert not any(overridden[:FAULT_STEP]) and any(overridden)  # a_task and a_exec kept apart


def test_bag_holds_every_step_from_step_0_and_the_fault_lands_at_its_step(graph_run) -> None:
    stamps = sorted(wire.parse_values(m)[0] for _, _, m in read_messages(graph_run["bag"], {wire.STEP}))
    assert len(stamps) == STEPS and stamps[0] == 0  # the first transition has the first stamp
    faults = [wire.parse_values(m) for _, _, m in read_messages(graph_run["bag"], {wire.FAULT_STATE})]
    first_fault = next(stamp for stamp, scales in faults if min(scales.values()) < 1.0)
    assert stamps.index(first_fault) == FAULT_STEP  # the transition with index FAULT_STEP is the first faulty one
    assert all(min(scales.values()) == 1.0 for stamp, scales in faults if stamp < first_fault)


def test_bag_splits_into_one_dataset_per_fault(graph_run) -> None:
    healthy, faulty = bag_to_datasets(graph_run["bag"], "HalfCheetah-Disabled")
    assert healthy.metadata.task == {"power_scale": {}}
    assert faulty.metadata.task == {"power_scale": {"ffoot": 0.0}}
    assert len(healthy) + len(faulty) == STEPS
    assert healthy.s.dtype == np.float64 and len(healthy) == FAULT_STEP  # the fault lands exactly at its step
    assert healthy.metadata.extra["last_stamp_ns"] < faulty.metadata.extra["first_stamp_ns"]


def test_bag2dataset_and_meta_train_take_the_recording(graph_run, tmp_path) -> None:
    out = subprocess.run([str(MESA_ROS), "bag2dataset", str(graph_run["bag"]), "--out", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["train_00.safetensors", "train_01.safetensors"]
    meta = subprocess.run([str(MESA_ROS), "meta-train", "--method", "mesa", "--data", str(graph_run["bag"]),
                           "--preset", "smoke", "--out", str(tmp_path / "meta.safetensors"), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert meta.returncode == 0, meta.stderr
    assert f"on 2 HalfCheetah-Disabled training dataset(s) ({STEPS} transitions" in meta.stdout
    missing = subprocess.run([str(MESA_ROS), "bag2dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "x")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_the_bag_is_zstd_compressed_and_carries_its_provenance(graph_run, checkpoints, params_file) -> None:
    import json

    from mcap.reader import make_reader

    from mesa_ros.core.bags import bag_splits, custom_data
    from mesa_ros.provenance import PREFIX, sha256

    for split in bag_splits(graph_run["bag"]):
        (mcap,) = split.glob("*.mcap")
        with mcap.open("rb") as f:
            chunks = make_reader(f).get_summary().chunk_indexes
        assert chunks and {c.compression for c in chunks} == {"zstd"}  # rosbag2's storage-level compression
    found = custom_data(graph_run["bag"])
    keys = ("env", "task", "checkpoints", "params_file", "params_sha256", "params", "version", "git_commit")
    assert {PREFIX + k for k in keys} <= set(found)  # the keys of provenance.py's docstring
    used = json.loads(found[PREFIX + "checkpoints"])
    assert used["policy"] == {"path": str(checkpoints["policy"]), "sha256": sha256(checkpoints["policy"])}
    assert found[PREFIX + "params_sha256"] == sha256(params_file) and found[PREFIX + "env"] == "HalfCheetah-Disabled"
    assert json.loads(found[PREFIX + "task"])["fault"] == "ffoot"
    for dataset in bag_to_datasets(graph_run["bag"], "HalfCheetah-Disabled"):
        assert dataset.metadata.extra["provenance"] == found  # bag2dataset keeps it with every dataset


def test_the_last_state_of_an_episode_is_marked_terminal_and_gets_no_decision(graph_run) -> None:
    ends, terminal, decided, proposed = set(), set(), set(), set()
    for topic, _, msg in read_messages(graph_run["bag"], {wire.STEP, wire.STATE, wire.RISK, wire.TASK_ACTION}):
        if topic == wire.STEP:
            step = wire.Step.from_values(wire.parse_values(msg)[1])
            if step.terminated or step.truncated:
                ends.add(step.next_stamp_ns)
        elif topic == wire.STATE:
            if msg.header.frame_id == wire.STATE_TERMINAL:
                terminal.add(wire.stamp_ns(msg.header.stamp))
        elif topic == wire.TASK_ACTION:
            proposed.add(wire.parse_action(msg)[0])
        else:
            decided.add(wire.parse_values(msg)[0])
    assert ends and terminal == ends  # the 1000-step episodes end (truncated) at least once in the run
    assert not terminal & decided  # the monitor decides on none of them: the simulator resets at once
    assert not terminal & proposed and len(proposed) > 1000  # nor does the task policy act on them
