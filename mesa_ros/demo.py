"""The fault-tolerance demo: the ROS graph on HalfCheetah-Disabled, a test fault mid-run, MESA, the shield.

Two runs of the cheetah_fault graph from the same seed, each recorded to a bag:
* ``mesa``: the simulator applies the fault (launch argument ``fault``) just before control step ``fault_step``;
  the adaptation node collects post-fault transitions, runs phase 2 and enables the shield; the run
  stops ``steps_after_shield`` control steps later, so its length after the shield does not depend
  on how long phase 2 took on this machine;
* ``no shield``: the same, with the shield never enabled (what the robot does without MESA), run until
  it covers the same sim stamps.
The summary compares, per 1000 steps, return and constraint violations before the fault, after the
fault without the shield, and with the shield, the last two over the same sim stamps (lockstep: equal
stamps are equal sim times). Left behind: ``summary.json`` (every printed number), ``demo.png``, the
adapted checkpoint the monitor started with and the bags converted to datasets.

A scripted variant without ROS (``scripted_fault_demo``) shows the effect of a fault on a fixed gait.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesa_ros import wire
from mesa_ros.core.bag_dataset import bag_to_datasets
from mesa_ros.core.bags import read_messages
from mesa_ros.core.files import write_json
from mesa_ros.envs import make
from mesa_ros.envs.gait import sine_gait
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.stall import run_watched


@dataclass
class SegmentStats:
    """Totals of one part of a run."""

    name: str
    steps: int = 0
    episode_return: float = 0.0
    violations: int = 0
    episodes_started: int = 1

    def as_dict(self) -> dict[str, float | int | str]:
        per_k = 1000.0 / max(self.steps, 1)
        return {"name": self.name, "steps": self.steps, "return": self.episode_return,
                "return_per_1000_steps": self.episode_return * per_k, "violations": self.violations,
                "violations_per_1000_steps": self.violations * per_k}

    def row(self) -> str:
        d = self.as_dict()
        return (f"{self.name:<44} steps {self.steps:5d}  return/1000 steps {d['return_per_1000_steps']:8.1f}  "
                f"violations {self.violations:3d} ({d['violations_per_1000_steps']:5.2f}/1000 steps)")


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
def demo_ros_env(environ: Mapping[str, str], pid: int) -> dict[str, str]:
    """The demo's graphs on a ROS domain of their own: ``ROS_DOMAIN_ID`` as the caller set it, else one from the
    process id (1-101) with discovery kept on this machine, so that another graph on the default domain (another
    demo, a user's nodes) does not talk into the recorded runs."""
    if "ROS_DOMAIN_ID" in environ:
        return dict(environ)
    return {**environ, "ROS_DOMAIN_ID": str(1 + pid % 101), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}


def run_graph(out: Path, shield: str, max_steps: int, fault_step: int, seed: int, extra: list[str],
              env: Mapping[str, str]) -> Path:
    """One ``mesa-ros launch cheetah_fault`` run recorded to ``out/bag`` with ``env``; returns the bag path. A run
    whose first state stalls (``mesa_ros.stall``) is started once more, its log kept as ``launch_stalled_1.log``."""
    bag = out / "bag"
    cmd = [sys.executable, "-m", "mesa_ros.cli", "launch", "cheetah_fault", f"shield:={shield}",
           f"max_steps:={max_steps}", f"fault_step:={fault_step}", f"seed:={seed}", "record_bag:=true",
           f"bag_dir:={bag}", *extra]
    out.mkdir(parents=True, exist_ok=True)
    log = out / "launch.log"
    for attempt in (1, 2):
        code = run_watched(cmd, log, env)
        if code is not None:
            break
        stalled = log.replace(out / f"launch_stalled_{attempt}.log")
        shutil.rmtree(bag, ignore_errors=True)
        print(f"the {shield} run (seed {seed}) stalled at its first state; its log with the nodes' stacks: "
              f"{stalled}" + ("; starting it again" if attempt == 1 else ""), flush=True)
    else:
        raise RuntimeError(f"the {shield} run stalled at its first state twice; see {out}/launch_stalled_*.log")
    if code != 0:
        raise RuntimeError(f"the {shield} run failed (exit code {code}); see {log}")
    return bag


def check_one_simulator(step_stamps: list[int], bag: Path) -> None:
    """Each step of one simulator has a stamp of its own: two steps with one stamp mean that another simulator on
    the same ROS domain talked into the recorded run (``RuntimeError``)."""
    if twice := sorted(stamp for stamp, n in Counter(step_stamps).items() if n > 1):
        raise RuntimeError(f"{bag} holds two steps stamped {twice[0]} ns ({len(twice)} such stamps): another "
                           "simulator on the same ROS domain talked into this run (set ROS_DOMAIN_ID apart)")


def command_scale(a_exec: np.ndarray, a_task: np.ndarray) -> float | None:
    """a_exec / a_task of one command, the median over the joints with |a_task| > 0.05 (None: no such joint): the
    risk governor's c where the shield kept the task action."""
    big = np.abs(a_task) > 0.05
    return float(np.median(a_exec[big] / a_task[big])) if big.any() else None


def command_scales(commands: list[tuple[int, np.ndarray, np.ndarray]]) -> dict[int, float]:
    """stamp -> ``command_scale`` of each (stamp, a_exec, a_task) whose stamp has one command (repeats of the same
    command, as the monitor re-sends it for a re-published state, count once): a state decided twice anew (a reset,
    a change of weights) has two different ones, and which decision each belongs to is ambiguous."""
    by_stamp: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for stamp, a_exec, a_task in commands:
        seen = by_stamp.setdefault(stamp, [])
        if not any(np.array_equal(a_exec, e) and np.array_equal(a_task, t) for e, t in seen):
            seen.append((a_exec, a_task))
    scales = {stamp: command_scale(*pairs[0]) for stamp, pairs in by_stamp.items() if len(pairs) == 1}
    return {stamp: scale for stamp, scale in scales.items() if scale is not None}


@dataclass
class Recording:
    """The per-step outcomes of one recorded run, keyed by sim stamp (ns), and when things happened."""

    steps: list[tuple[int, wire.Step]]  # (stamp of the state acted in, its outcome), by stamp
    risk: list[tuple[int, wire.Risk]]  # (stamp, the monitor's decision), by stamp
    fault_at: int | None  # stamp at which the first fault landed
    shield_on: int | None  # first stamp whose decision had the shield enabled
    scales: dict[int, float]  # stamp -> a_exec / a_task of its one command (median over |a_task| > 0.05)

    @classmethod
    def read(cls, bag: Path) -> Recording:
        steps, risk, shield_on, fault_at, commands = [], [], None, None, []
        for topic, _, msg in read_messages(bag, {wire.STEP, wire.RISK, wire.FAULT_STATE, wire.COMMAND}):
            if topic == wire.COMMAND:
                commands.append(wire.parse_action(msg))
                continue
            stamp, values = wire.parse_values(msg)
            if topic == wire.STEP:
                steps.append((stamp, wire.Step.from_values(values)))
            elif topic == wire.RISK:
                decision = wire.Risk.from_values(values)
                risk.append((stamp, decision))
                if decision.shield_enabled and (shield_on is None or stamp < shield_on):
                    shield_on = stamp
            elif topic == wire.FAULT_STATE and wire.faulted(values) and fault_at is None:
                fault_at = stamp
        check_one_simulator([stamp for stamp, _ in steps], bag)
        return cls(sorted(steps, key=lambda s: s[0]), sorted(risk, key=lambda s: s[0]), fault_at, shield_on,
                   command_scales(commands))

    @property
    def last_stamp(self) -> int:
        return self.steps[-1][0] if self.steps else -1

    def stamp_after(self, start: int, count: int) -> int:
        """The stamp of the ``count``-th step at or after ``start`` (the last step's when fewer followed)."""
        later = [stamp for stamp, _ in self.steps if stamp >= start]
        return later[min(count, len(later)) - 1] if later else self.last_stamp

    def segments(self, shield_on: int | None, end: int) -> dict[str, SegmentStats]:
        """Steps with stamp <= ``end``, split at the fault and at sim stamp ``shield_on``: both runs of the
        demo start at stamp 0 on the same sim clock, so equal stamps are equal sim times."""
        out = {"before": SegmentStats("before the fault"), "adapting": SegmentStats("fault, adapting (no shield)"),
               "after": SegmentStats("")}
        for stamp, step in self.steps:
            if stamp > end:
                break
            if self.fault_at is None or stamp < self.fault_at:
                segment = out["before"]
            elif shield_on is None or stamp < shield_on:
                segment = out["adapting"]
            else:
                segment = out["after"]
            segment.steps += 1
            segment.episode_return += step.reward
            segment.violations += int(step.cost)
        return out

    def violation_times(self, start: int, end: int) -> list[float]:
        """Sim seconds after ``start`` of each violation in [start, end]: how soon after the shield came on."""
        return [round((stamp - start) / 1e9, 2) for stamp, step in self.steps
                if start <= stamp <= end and int(step.cost)]

    def override_rate(self, start: int, end: int) -> float:
        """Share of the monitor's decisions in [start, end] that overrode the task action."""
        decisions = [d.overridden for stamp, d in self.risk if start <= stamp <= end]
        return float(np.mean(decisions)) if decisions else float("nan")

    def action_scale(self, start: int, end: int) -> float:
        """Mean a_exec / a_task of the commands not overridden in [start, end]: the risk governor's c (1: none)."""
        kept = [self.scales[stamp] for stamp, d in self.risk
                if start <= stamp <= end and not d.overridden and stamp in self.scales]
        return float(np.mean(kept)) if kept else float("nan")


@dataclass
class DemoResult:
    """What ``graph_demo`` measured: the printed rows and everything in ``summary.json``."""

    rows: list[SegmentStats]
    summary: dict[str, Any]


SHIELDS = ("mesa_lookahead", "multitask_lookahead", "rrl_lookahead", "mesa", "multitask", "rrl",
           "lookahead")  # what ``--shields`` may compare with no shield
STACKED = "_lookahead"  # a critic shield with the shipped lookahead stacked on it (``core.stacked``): the default


def shield_args(shield: str) -> list[str]:
    """Launch arguments of a run with ``shield``: MESA and Multi-Task adapt their shipped offline checkpoints;
    RRL learns its layer from the post-fault data alone; each with the shipped lookahead stacked on it (the launch
    default) as ``<critic>_lookahead``, alone (``lookahead_checkpoint:=none``) as ``<critic>``; ``lookahead``: the
    lookahead alone, adapting its shipped model."""
    if shield not in SHIELDS:
        raise ValueError(f"unknown shield {shield!r}; expected one of {list(SHIELDS)}")
    if shield == "lookahead":
        return [f"safety_checkpoint:={default_checkpoint('HalfCheetah-Disabled', 'lookahead')}",
                "adapt_method:=lookahead"]
    critic = {"mesa": [], "rrl": ["adapt_method:=rrl"],
              "multitask": [f"safety_checkpoint:={default_checkpoint('HalfCheetah-Disabled', 'safety_multitask')}",
                            "adapt_method:=multitask"]}
    if shield.endswith(STACKED):
        return critic[shield.removesuffix(STACKED)]
    return [*critic[shield], "lookahead_checkpoint:=none"]


def graph_demo(out: Path, max_steps: int, steps_after_shield: int, fault_step: int, seeds: list[int],
               extra: list[str], shields: tuple[str, ...] = ("mesa",)) -> DemoResult:
    """Per seed, one run per shield and one without, each shield's run compared with the unshielded one
    over the same sim steps: from the stamp its shield came on to the ``steps_after_shield``-th step after
    it. Writes ``summary.json``, ``demo.png`` (the first seed), each shield's adapted checkpoint
    (``<shield>_seed<k>/adapted.safetensors``) and the bags converted to datasets under ``out``."""
    for shield in shields:
        shield_args(shield)  # unknown names fail before anything runs
    # lockstep: the simulator waits for the adaptation node, so collection, phase 2 and arming take the same sim
    # steps on any machine (their robot time is reported apart); not where the caller chose the mode or the sync
    sync = [] if any(a.startswith(("mode:=", "sync_adaptation:=")) for a in extra) else ["sync_adaptation:=true"]
    ros_env = demo_ros_env(os.environ, os.getpid())
    names = [f"{run}_seed{seed}" for seed in seeds for run in (*shields, "no_shield")]
    earlier = [out / n for n in names if (out / n).exists() and any((out / n).iterdir())]
    if earlier:
        raise ValueError(f"{earlier[0]} holds an earlier demo; choose another --out (nothing was overwritten)")
    start = time.monotonic()
    env = make("HalfCheetah-Disabled")
    dt = env.unwrapped.dt
    env.close()
    dt_ns = round(dt * 1e9)
    rows: list[SegmentStats] = []
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        shielded: dict[str, tuple[Recording, int, Path]] = {}  # shield -> (its run, its window's end, its directory)
        for shield in shields:
            d = out / f"{shield}_seed{seed}"
            rec = Recording.read(run_graph(d, "adapt", max_steps, fault_step, seed, [
                f"steps_after_shield:={steps_after_shield}", f"adapted_checkpoint:={d / 'adapted.safetensors'}",
                *shield_args(shield), *sync, *extra], ros_env))
            if rec.shield_on is None:
                raise RuntimeError(
                    f"the {shield} shield was never enabled within {max_steps} steps; see {d / 'launch.log'}"
                )
            shielded[shield] = rec, rec.stamp_after(rec.shield_on, steps_after_shield), d
        # every step advances the clock by dt (a reset by one more): this many steps reach the last window's end
        last = max(end for _, end, _ in shielded.values())
        unshielded = [a for a in extra if not a.startswith("sync_adaptation:=")]  # nothing to wait for
        baseline = Recording.read(run_graph(out / f"no_shield_seed{seed}", "off", last // dt_ns + 1, fault_step, seed,
                                            unshielded, ros_env))
        tag = f"seed {seed}: " if len(seeds) > 1 else ""
        first = shielded[shields[0]][0]
        early = first.segments(first.shield_on, first.shield_on)
        rows += [dataclasses.replace(early["before"], name=tag + early["before"].name),
                 dataclasses.replace(early["adapting"], name=tag + f"{early['adapting'].name} ({shields[0]} run)")]
        for shield, (rec, end, d) in shielded.items():
            end = min(end, baseline.last_stamp)
            window = f"(sim t {rec.shield_on / 1e9:.2f}-{end / 1e9:.2f} s)"
            without = dataclasses.replace(
                baseline.segments(rec.shield_on, end)["after"], name=f"{tag}no shield {window}"
            )
            within = dataclasses.replace(
                rec.segments(rec.shield_on, end)["after"], name=f"{tag}{shield} shield on {window}"
            )
            rows += [without, within]
            runs.append({"seed": seed, "shield": shield, "shield_on_s": rec.shield_on / 1e9,
                         "fault_at_s": None if rec.fault_at is None else rec.fault_at / 1e9,
                         "window": {"start_s": rec.shield_on / 1e9, "end_s": end / 1e9},
                         "override_rate": rec.override_rate(rec.shield_on, end),
                         "action_scale": rec.action_scale(rec.shield_on, end),
                         "no_shield": without.as_dict(), "shield_on": within.as_dict(),
                         "violations_after_shield_on_s": {"no_shield": baseline.violation_times(rec.shield_on, end),
                                                          "shield_on": rec.violation_times(rec.shield_on, end)},
                         "time_to_safe": time_to_safe((d / "launch.log").read_text(), dt,
                                                      None if rec.fault_at is None else rec.fault_at / 1e9,
                                                      rec.shield_on / 1e9),
                         "adapted_checkpoint": str(d / "adapted.safetensors")})
        for run in (*shields, "no_shield"):
            d = out / f"{run}_seed{seed}"
            for i, dataset in enumerate(bag_to_datasets(d / "bag")):
                dataset.save(d / f"dataset_{i:02d}.safetensors")
        if seed == seeds[0]:
            plot_runs(out / "demo.png", {**{f"{k} shield": rec for k, (rec, _, _) in shielded.items()},
                                         "no shield": baseline}, first.fault_at, last)
    summary = {
        "env": "HalfCheetah-Disabled", "seeds": seeds, "shields": list(shields), "fault_step": fault_step,
        "extra_launch_args": extra, "steps_after_shield": steps_after_shield, "max_steps": max_steps,
        "ros_domain_id": ros_env["ROS_DOMAIN_ID"], "sync_adaptation": bool(sync) or "sync_adaptation:=true" in extra,
        "rows": [row.as_dict() for row in rows], "runs": runs,
        "wall_seconds": round(time.monotonic() - start, 1), "figure": str(out / "demo.png"),
    }
    write_json(out / "summary.json", summary)
    return DemoResult(rows, summary)


ADAPTED = re.compile(r"shield (?:enabled|on the adapted weights) ([\d.]+) s after the fault announcement "
                     r"\(phase 2: ([\d.]+) s, (\d+) transitions\)")
ARMED_AT_FAULT = re.compile(r"shield enabled ([\d.]+) s after the fault announcement on the meta-trained layer")
DETECTED = re.compile(r"fault announced by detector at sim time ([\d.]+)s")


def time_to_safe(adaptation_log: str, dt: float, fault_at_s: float | None = None,
                 shield_on_s: float | None = None) -> dict[str, float] | None:
    """From the adaptation node's log lines: the post-fault transitions it collected, phase 2's compute
    time, and the robot time to safe they add up to on a robot that runs at its control period ``dt``
    (collection in real time, then phase 2); with ``detect:=true`` the detection delay (sim time of the
    detection that started the collection minus ``fault_at_s``) comes first. A shield armed at the fault on the
    meta-trained critic (``arm_on_fault``) is safe from the announcement on: ``robot_s`` is then the sim time from the
    fault to the first decision with the shield on (``shield_on_s - fault_at_s``, detection included; negative after
    a false alarm of the detector before the fault; without them the detection delay alone), ``adapted_robot_s``
    when the adapted weights took over. ``graph_wall_s``: the wall time from the announcement to the shield on (armed
    at the fault: to that enable; lockstep runs faster than real time while collecting)."""
    match = ADAPTED.search(adaptation_log)
    if match is None:
        return None
    wall, phase2, transitions = float(match.group(1)), float(match.group(2)), int(match.group(3))
    armed = ARMED_AT_FAULT.search(adaptation_log, 0, match.start())
    out = {
        "transitions": transitions,
        "control_hz": 1.0 / dt,
        "collection_robot_s": transitions * dt,
        "phase2_s": phase2,
        "armed_at_fault": armed is not None,
        "graph_wall_s": float(armed.group(1)) if armed else wall,
    }
    detections = [float(m.group(1)) for m in DETECTED.finditer(adaptation_log, 0, match.start())]
    detection = 0.0
    if detections and fault_at_s is not None:
        detection = out["detection_robot_s"] = detections[-1] - fault_at_s
    out["adapted_robot_s"] = detection + transitions * dt + phase2
    if not armed:
        out["robot_s"] = out["adapted_robot_s"]
    elif fault_at_s is not None and shield_on_s is not None:
        out["robot_s"] = round(shield_on_s - fault_at_s, 6)  # measured on the sim clock
    else:
        out["robot_s"] = detection
    return out


def plot_runs(path: Path, runs: dict[str, Recording], fault_at: int | None, end: int) -> None:
    """Per run over sim time up to ``end``: the risk of a_task (Q_risk; the lookahead's share of falling
    particles, ``member_risk``), overrides (share over the last 100 decisions) and the governor's action scale c
    (dashed, right axis), cumulative violations and cumulative return; the fault and each run's shield-on time (in
    its colour) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    scale_ax = axes[1].twinx()
    for name, run in runs.items():
        risk = [(s / 1e9, v) for s, v in run.risk if s <= end]
        steps = [(s / 1e9, v) for s, v in run.steps if s <= end]
        if risk:
            t = np.array([r[0] for r in risk])
            axes[0].plot(t, [r[1].q_risk for r in risk], lw=0.6, label=name)
            overridden = np.array([r[1].overridden for r in risk], dtype=np.float64)
            trailing = np.convolve(overridden, np.ones(100))[: len(overridden)] / np.minimum(
                np.arange(1, len(t) + 1), 100
            )
            override_line, = axes[1].plot(t, trailing, lw=0.8, label=name)
            overrides = {stamp for stamp, d in run.risk if d.overridden}  # their a_exec is not c * a_task
            scales = sorted((stamp / 1e9, c) for stamp, c in run.scales.items() if stamp <= end
                            and stamp not in overrides)
            if scales:
                scale_ax.plot(*zip(*scales), ls="--", lw=0.8, color=override_line.get_color())
        t = np.array([s[0] for s in steps])
        axes[2].plot(t, np.cumsum([s[1].cost for s in steps]), label=name)
        line, = axes[3].plot(t, np.cumsum([s[1].reward for s in steps]), label=name)
        if run.shield_on is not None:
            for ax in axes:
                ax.axvline(run.shield_on / 1e9, color=line.get_color(), ls=":", lw=0.8)
    for ax, label in zip(axes, ("risk of a_task", "overrides (last 100)", "cumulative violations",
                                "cumulative return")):
        ax.set_ylabel(label)
        if fault_at is not None:
            ax.axvline(fault_at / 1e9, color="k", ls="--", lw=0.8)
    scale_ax.set_ylabel("action scale c (dashed)")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("sim time (s); dashed: fault, dotted: each run's shield on")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
