"""Bags of the ROS graph -> datasets of the one transition schema (``mesa-ros bag2dataset``).

Messages are parsed with the wire format (``mesa_ros.wire``), transitions rebuilt by stamp
(``assembler.py``) and split where the simulator's ground-truth fault state changed, so one
recording of a robot that suffered several faults yields one dataset per fault: exactly the
per-environment datasets meta-training wants.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mesa_ros import wire
from mesa_ros.core.assembler import Transition, TransitionAssembler
from mesa_ros.core.bags import ReadReport, custom_data, read_messages
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, TransitionRecorder
from mesa_ros.envs import env_class


def read_transitions(path: str | os.PathLike, env: str, report: ReadReport | None = None
                     ) -> tuple[list[Transition], list[tuple[int, dict[str, float]]]]:
    """All complete transitions of a recording (stamp order) and its fault-state changes."""
    assembler = TransitionAssembler(env_class(env).observation_from)
    faults: list[tuple[int, dict[str, float]]] = []
    wanted = {wire.STATE, wire.STEP, wire.COMMAND, wire.FAULT_STATE}
    for topic, _, msg in read_messages(path, wanted, report, {t: wire.RECORDED[t] for t in wanted}):
        if topic == wire.STATE:
            assembler.add_state(*wire.parse_state(msg))
        elif topic == wire.STEP:
            assembler.add_step(*wire.parse_values(msg))
        elif topic == wire.COMMAND:
            assembler.add_command(*wire.parse_action(msg))
        else:
            faults.append(wire.parse_values(msg))
    return assembler.pop_ready(), sorted(faults, key=lambda f: f[0])


def bag_to_datasets(path: str | os.PathLike, env: str = "HalfCheetah-Disabled", split: str = "train",
                    policy: str = "ros_graph", report: ReadReport | None = None) -> list[TransitionDataset]:
    """One dataset per fault segment of the recording at ``path`` (a recording root or one bag)."""
    report = report if report is not None else ReadReport()
    transitions, faults = read_transitions(path, env, report)
    if not transitions:
        raise ValueError(f"bag {path} holds no complete transition ({report.messages} messages read; "
                         f"recorded topics must include {wire.STATE}, {wire.STEP} and {wire.COMMAND})")
    provenance = custom_data(path)  # the recorder's (mesa_ros.provenance), kept with every dataset
    change_stamps = np.array([stamp for stamp, _ in faults], dtype=np.int64)
    segment_of = np.searchsorted(change_stamps, [t.stamp_ns for t in transitions], side="right") - 1
    datasets = []
    for segment in np.unique(segment_of):
        chunk = [t for t, seg in zip(transitions, segment_of) if seg == segment]
        power = faults[segment][1] if segment >= 0 else {}
        task = {"power_scale": wire.faulted(power)}
        recorder = TransitionRecorder(len(chunk[0].s), len(chunk[0].a_exec), capacity=len(chunk))
        for t in chunk:
            recorder.add(t.s, t.a_task, t.a_exec, t.r, t.c, t.s_next, t.terminated, t.truncated)
        extra = {"bag": str(Path(path)), "first_stamp_ns": chunk[0].stamp_ns, "last_stamp_ns": chunk[-1].stamp_ns,
                 "recovered_splits": report.recovered, **({"provenance": provenance} if provenance else {})}
        datasets.append(recorder.to_dataset(DatasetMetadata(env, task, split, policy, None, extra)))
    return datasets

