"""The fault-tolerance demo: the ROS graph on HalfCheetah-Disabled, a test fault mid-run, MESA, the shield.

Two runs of the cheetah_fault graph from the same seed, each recorded to a bag:
* ``mesa``: the simulator applies the ffoot power-loss fault just before control step ``fault_step``;
  the adaptation node collects post-fault transitions, runs phase 2 and enables the shield;
* ``no shield``: the same, with the shield never enabled (what the robot does without MESA).
The summary compares, per 1000 steps, return and constraint violations before the fault, after the
fault without the shield, and after adaptation with the shield. The bags are converted to datasets.

A scripted variant without ROS (``scripted_fault_demo``) shows the effect of a fault on a fixed gait.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mesa_ros import topics
from mesa_ros.core.bag_dataset import bag_to_datasets, parse_values
from mesa_ros.core.bags import read_messages
from mesa_ros.envs import make
from mesa_ros.envs.gait import sine_gait


@dataclass
class SegmentStats:
    """Totals of one part of a run."""

    name: str
    steps: int = 0
    episode_return: float = 0.0
    violations: int = 0
    episodes_started: int = 1

    def row(self) -> str:
        per_k = 1000.0 / max(self.steps, 1)
        return (f"{self.name:<36} steps {self.steps:5d}  return/1000 steps {self.episode_return * per_k:8.1f}  "
                f"violations {self.violations:3d} ({self.violations * per_k:5.2f}/1000 steps)")


def scripted_fault_demo(steps: int = 3000, fault_step: int = 1000, fault_joint: str = "ffoot",
                        power_scale: float = 0.0, seed: int = 0) -> tuple[SegmentStats, SegmentStats]:
    """No ROS: a scripted gait for ``steps`` steps; at ``fault_step`` ``fault_joint`` keeps ``power_scale``."""
    if not 0 <= fault_step <= steps:
        raise ValueError(f"fault_step must be in [0, steps={steps}], got {fault_step}")
    env = make("HalfCheetah-Disabled")
    robot = env.unwrapped
    robot.set_power_scale(fault_joint, power_scale)  # validates the fault before anything runs
    robot.clear_faults()
    before, after = SegmentStats("before fault"), SegmentStats(f"after {fault_joint}={power_scale:g}")
    env.reset(seed=seed)
    phase = 0  # gait phase restarts with each episode
    for t in range(steps):
        if t == fault_step:
            robot.set_power_scale(fault_joint, power_scale)  # mid-episode, as a real fault
        segment = before if t < fault_step else after
        _, reward, terminated, truncated, info = env.step(sine_gait(phase))
        phase += 1
        segment.steps += 1
        segment.episode_return += float(reward)
        segment.violations += int(info["c"])
        if terminated or truncated:
            env.reset()
            phase = 0
            if t + 1 < steps:
                (before if t + 1 < fault_step else after).episodes_started += 1
    env.close()
    return before, after


# -- the ROS graph demo ----------------------------------------------------------------------------
def run_graph(out: Path, shield: str, steps: int, fault_step: int, seed: int, extra: list[str]) -> Path:
    """One ``mesa-ros launch cheetah_fault`` run recorded to ``out/bag``; returns the bag path."""
    bag = out / "bag"
    cmd = [sys.executable, "-m", "mesa_ros.cli", "launch", "cheetah_fault", f"shield:={shield}",
           f"max_steps:={steps}", f"fault_step:={fault_step}", f"seed:={seed}", "record_bag:=true",
           f"bag_dir:={bag}", *extra]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "launch.log").open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"the {shield} run failed (exit code {code}); see {out / 'launch.log'}")
    return bag


@dataclass
class Recording:
    """The per-step outcomes of one recorded run, keyed by sim stamp (ns), and when things happened."""

    steps: list[tuple[int, dict[str, float]]]  # (stamp of the state acted in, step values), by stamp
    fault_at: int | None  # stamp at which the first fault landed
    shield_on: int | None  # first stamp whose decision had the shield enabled

    @classmethod
    def read(cls, bag: Path) -> Recording:
        steps, shield_on, fault_at = [], None, None
        for topic, _, msg in read_messages(bag, {topics.STEP, topics.RISK, topics.FAULT_STATE}):
            stamp, values = parse_values(msg)
            if topic == topics.STEP:
                steps.append((stamp, values))
            elif topic == topics.RISK and values["shield_enabled"] and (shield_on is None or stamp < shield_on):
                shield_on = stamp
            elif topic == topics.FAULT_STATE and min(values.values()) < 1.0 and fault_at is None:
                fault_at = stamp
        return cls(sorted(steps, key=lambda s: s[0]), fault_at, shield_on)

    @property
    def last_stamp(self) -> int:
        return self.steps[-1][0] if self.steps else -1

    def segments(self, shield_on: int | None, end: int) -> dict[str, SegmentStats]:
        """Steps with stamp <= ``end``, split at the fault and at sim stamp ``shield_on``: both runs of the
        demo start at stamp 0 on the same sim clock, so equal stamps are equal sim times."""
        out = {"before": SegmentStats("before the fault"), "adapting": SegmentStats("fault, adapting (no shield)"),
               "after": SegmentStats("")}
        for stamp, values in self.steps:
            if stamp > end:
                break
            if self.fault_at is None or stamp < self.fault_at:
                segment = out["before"]
            elif shield_on is None or stamp < shield_on:
                segment = out["adapting"]
            else:
                segment = out["after"]
            segment.steps += 1
            segment.episode_return += values["reward"]
            segment.violations += int(values["cost"])
        return out


def graph_demo(out: Path, steps: int, fault_step: int, seed: int, extra: list[str]) -> list[SegmentStats]:
    """Both runs; the rows of the summary (and the bags converted to datasets under ``out``)."""
    earlier = [out / run for run in ("mesa", "no_shield") if (out / run).exists() and any((out / run).iterdir())]
    if earlier:
        raise ValueError(f"{earlier[0]} holds an earlier demo; choose another --out (nothing was overwritten)")
    mesa = Recording.read(run_graph(out / "mesa", "adapt", steps, fault_step, seed, extra))
    if mesa.shield_on is None:
        raise RuntimeError(f"the shield was never enabled; see {out / 'mesa' / 'launch.log'}")
    baseline = Recording.read(run_graph(out / "no_shield", "off", steps, fault_step, seed, extra))
    end = min(mesa.last_stamp, baseline.last_stamp)  # the window both runs covered
    window = f"(sim t {mesa.shield_on / 1e9:.2f}-{end / 1e9:.2f} s)"
    shielded, unshielded = mesa.segments(mesa.shield_on, end), baseline.segments(mesa.shield_on, end)
    shielded["after"].name = f"shield on {window}"
    unshielded["after"].name = f"no shield {window}"
    for run in ("mesa", "no_shield"):
        for i, dataset in enumerate(bag_to_datasets(out / run / "bag")):
            dataset.save(out / run / f"dataset_{i:02d}.safetensors")
    return [shielded["before"], shielded["adapting"], unshielded["after"], shielded["after"]]
