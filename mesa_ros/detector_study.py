"""Fit a change detector for a deployed policy, and measure it: detection delays, false alarms, thresholds.

Protocol (``mesa-ros detector fit`` / ``mesa-ros detector evaluate``), all in simulation, no ROS:

- fit: the policy's own healthy behaviour, half perturbed as the critic's data (N(0, 0.3^2) action noise
  and random stretches), half with N(0, 0.1^2) action noise, fits f(s, a); continuous healthy runs of the
  policy, deterministic and with N(0, 0.1^2) action noise, calibrate the CUSUM (``core/detector.py``).
  No fault is ever seen.
- delays: ``runs`` runs per fault, each ``pre`` healthy steps then the fault for ``post`` steps, then
  healthy again for ``post`` steps; the delay is counted in steps (20 Hz: x 0.05 s) from the first
  faulty transition to the detection, the return likewise from the first healthy transition. A run
  whose fault is not detected within ``post`` steps is a miss. Detections before the fault are false alarms.
- false alarms: ``hours`` of healthy running per policy mode (deterministic; noisy: N(0, 0.1^2)), with
  the episodes' resets in the stream as the robot would see them, counted per hour of robot time.
- thresholds: the same score streams re-tested with h scaled by 0.25 ... 4 (the trade-off figure).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesa_ros.core import checkpoint
from mesa_ros.core.collect import Perturbation, collect
from mesa_ros.core.config import DetectorConfig
from mesa_ros.core.detector import ChangeDetector, Stream, calibrate, cusum, fit_dynamics, recovery, save
from mesa_ros.core.files import atomic
from mesa_ros.core.inference import FrozenPolicy, frozen_policy
from mesa_ros.envs import make

HEALTHY_TASK = {"power_scale": {}}
NOISY = 0.1  # action noise (units of the half-range) of the "noisy policy" condition
PERTURBED = Perturbation(0.3, 0.01, 20)  # the deployed-policy critic data's perturbation (make_demo_checkpoints.sh)
H_SCALES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def default_faults(joints: Sequence[str]) -> list[dict[str, float]]:
    """Each joint's total loss, partial losses k in {0.5, 0.7, 0.9}, and three two-joint faults."""
    faults = [{j: 0.0} for j in joints] + [{j: k} for k in (0.5, 0.7, 0.9) for j in joints]
    pairs = [(joints[0], joints[-1]), (joints[1], joints[-2]), (joints[2], joints[3])] if len(joints) >= 4 else []
    return faults + [{a: 0.0, b: 0.0} for a, b in pairs] + [{a: 0.5, b: 0.5} for a, b in pairs[:1]]


def fault_name(fault: Mapping[str, float]) -> str:
    return " ".join(f"{j}:{k:g}" for j, k in fault.items()) or "healthy"


def policy_from(path: str | Path, env: str) -> FrozenPolicy:
    """The deployed policy's deterministic action (as the graph's task_policy runs it), numpy only."""
    return frozen_policy(checkpoint.load(path, env=env, numpy=True), str(path))


def fit(env: str, policy_file: str | Path, out: str | Path, cfg: DetectorConfig = DetectorConfig(), *,
        fit_transitions: int = 120_000, calibration_hours: float = 5.0, seed: int = 0,
        progress: bool = False) -> ChangeDetector:
    """Collect the healthy data, fit and calibrate the detector, write it to ``out`` and return it.

    f is fitted on ``fit_transitions`` healthy transitions, half with the critic data's perturbation
    (``PERTURBED``: unusual states and actions), half with the noisy policy's (``NOISY``: the states the
    policy visits); the thresholds come from ``calibration_hours`` of continuous healthy running per policy
    mode (deterministic and noisy), with other seeds."""
    from mesa_ros.core import detector
    from mesa_ros.core.dataset import concatenate
    from mesa_ros.core.restore import load_checkpoint

    agent = load_checkpoint(policy_file, env=env).agent
    parts = [collect(env, HEALTHY_TASK, "train", agent, num_transitions=fit_transitions // 2, seed=seed + 50 * i,
                     progress=progress, deterministic=True, perturbation=perturbation)
             for i, perturbation in enumerate((PERTURBED, Perturbation(NOISY)))]
    fit_data = concatenate(parts, parts[0].metadata)
    policy = policy_from(policy_file, env)
    steps = int(round(calibration_hours * 3600 / make(env).unwrapped.dt))
    streams = [rollout(env, policy, [(steps, HEALTHY_TASK)], seed + i + 1, sigma)
               for i, sigma in enumerate((0.0, NOISY))]
    model = fit_dynamics((fit_data.s, fit_data.a_exec, fit_data.s_next), cfg, seed=seed)
    calibration = calibrate(model, streams, cfg)
    provenance = {
        "policy": str(policy_file),
        "policy_sha256": _sha256(policy_file),
        "fit_transitions": fit_transitions,
        "fit_perturbations": [dataclasses.asdict(PERTURBED), dataclasses.asdict(Perturbation(NOISY))],
        "calibration": {"hours_per_mode": calibration_hours, "policy_modes": ["deterministic", f"noise {NOISY}"]},
        "seed": seed,
    }
    save(out, model, calibration, env, fit_data.obs_dim, fit_data.act_dim, cfg, provenance)
    return detector.load(out, env=env)


def _sha256(path: str | Path) -> str:
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class ScoreRun:
    """Scores of one run: the fault (if any) acts on steps [fault_at, clear_at)."""

    scores: np.ndarray
    fault_at: int
    clear_at: int


def rollout(env_name: str, policy: Callable[[np.ndarray], np.ndarray],
            schedule: Sequence[tuple[int, Mapping[str, Any]]], seed: int, noise: float = 0.0) -> Stream:
    """One continuous run as the robot sees it: ``schedule`` = [(steps, task), ...] segments in order (the task
    set mid-episode, e.g. ``{"power_scale": {"ffoot": 0}}``); episodes reset at the horizon or a violation (the
    task stays); ``noise``: N(0, noise^2) action noise in units of the half-range. Returns the (s, a, s') arrays."""
    env = make(env_name)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    obs, _ = env.reset(seed=seed)
    s, a, s_next = [], [], []
    for steps, task in schedule:
        env.unwrapped.set_task(task)
        for _ in range(steps):
            action = policy(obs)
            if noise:
                action = np.clip(action + rng.normal(0.0, noise, action.shape) * (high - low) / 2, low, high)
            next_obs, _, terminated, truncated, _ = env.step(action)
            s.append(obs), a.append(action), s_next.append(next_obs)
            obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    return np.array(s), np.array(a), np.array(s_next)


def run_scores(env_name: str, policy: Callable[[np.ndarray], np.ndarray], detector: ChangeDetector,
               schedule: Sequence[tuple[int, Mapping[str, Any]]], seed: int, noise: float = 0.0) -> np.ndarray:
    """The detector's scores u_t (T x obs_dim) on every transition of ``rollout(...)``."""
    return detector.dynamics.scores(*rollout(env_name, policy, schedule, seed, noise), detector.cfg.clip)


def first_after(alarms: np.ndarray, start: int, end: int) -> int | None:
    hits = alarms[(alarms >= start) & (alarms < end)]
    return int(hits[0]) if len(hits) else None


@dataclass(frozen=True)
class Outcome:
    """One run at given thresholds: steps from the fault to its detection and from the repair to the return to
    healthy (None: not within the segment), false alarms before the fault, and whether "healthy again" was
    declared while the fault still acted (a false return; the return then counts as missed)."""

    delay: int | None
    back: int | None
    false_alarms: int
    false_return: bool


def outcome(run: ScoreRun, k: float, h: float, h_clear: float) -> Outcome:
    z = run.scores
    _, alarms = cusum(z[:run.clear_at], k, h)
    false = int(np.sum(alarms < run.fault_at))
    hit = first_after(alarms, run.fault_at, run.clear_at)
    if hit is None:
        return Outcome(None, None, false, False)
    back = recovery(z[hit + 1:], k, h_clear)
    back = None if back is None else back + hit + 1
    early = back is not None and back < run.clear_at
    return Outcome(hit - run.fault_at, None if back is None or early else back - run.clear_at, false, early)


def evaluate(env: str, policy_file: str | Path, detector_file: str | Path, out: str | Path, *,
             faults: Sequence[Mapping[str, float]] | None = None, runs: int = 20, pre: int = 200, post: int = 400,
             hours: float = 10.0, seed: int = 1000, progress: bool = False) -> dict[str, Any]:
    """Run the protocol of the module docstring; write ``results.json``, ``results.md`` and ``thresholds.png``."""
    from tqdm import tqdm

    from mesa_ros.core import detector as det

    detector = det.load(detector_file, env=env)
    policy = policy_from(policy_file, env)
    joints = list(make(env).unwrapped.actuator_names)
    faults = default_faults(joints) if faults is None else list(faults)
    unknown = sorted({j for fault in faults for j in fault if j not in joints})
    if unknown:
        raise ValueError(f"unknown joint(s) {unknown} in --fault; {env} has {joints}")
    dt = float(make(env).unwrapped.dt)
    cal = detector.calibration
    fault_runs: dict[str, list[ScoreRun]] = {}
    for i, fault in enumerate(tqdm(faults, desc="faults", disable=not progress)):
        fault_runs[fault_name(fault)] = [
            ScoreRun(run_scores(env, policy, detector, [(pre, HEALTHY_TASK), (post, {"power_scale": fault}),
                                                        (post, HEALTHY_TASK)], seed + 100 * i + r),
                     pre, pre + post) for r in range(runs)]
    healthy_steps = int(round(hours * 3600 / dt))
    healthy = {mode: run_scores(env, policy, detector, [(healthy_steps, HEALTHY_TASK)], seed + 99_999 + j, noise)
               for j, (mode, noise) in enumerate(tqdm((("deterministic", 0.0), (f"noise {NOISY}", NOISY)),
                                                     desc="healthy", disable=not progress))}
    table = {}
    for name, rs in fault_runs.items():
        outcomes = [outcome(r, cal.k, cal.h, cal.h_clear) for r in rs]
        detected = [o.delay for o in outcomes if o.delay is not None]
        returned = [o.back for o in outcomes if o.back is not None]
        table[name] = {"runs": len(rs), "detected": len(detected),
                       "median_delay_steps": float(np.median(detected)) if detected else None,
                       "p90_delay_steps": float(np.percentile(detected, 90)) if detected else None,
                       "returned": len(returned),
                       "median_return_steps": float(np.median(returned)) if returned else None,
                       "false_returns": sum(o.false_return for o in outcomes),
                       "false_alarms_before_fault": sum(o.false_alarms for o in outcomes)}
    false_alarms = {mode: {"hours": len(z) * dt / 3600, "alarms": int(len(cusum(z, cal.k, cal.h)[1])),
                           "per_hour": len(cusum(z, cal.k, cal.h)[1]) / (len(z) * dt / 3600),
                           "max_cusum_over_h": float(cusum(z, cal.k)[0].max() / cal.h)}
                    for mode, z in healthy.items()}
    total = [n for n, f in zip(fault_runs, faults) if len(f) == 1 and min(f.values()) == 0.0]
    sweep = []
    for scale in H_SCALES:
        h = cal.h * scale
        fa = sum(len(cusum(z, cal.k, h)[1]) for z in healthy.values()) / sum(
            len(z) * dt / 3600 for z in healthy.values()
        )
        ds = [d for n in total for r in fault_runs[n] if (d := outcome(r, cal.k, h, cal.h_clear).delay) is not None]
        missed = sum(len(fault_runs[n]) for n in total) - len(ds)
        sweep.append(
            {
                "h_scale": scale,
                "h": h,
                "false_alarms_per_hour": fa,
                "median_delay_total_loss_steps": float(np.median(ds)) if ds else None,
                "missed_total_loss": missed,
            }
        )
    results = {"env": env, "policy": str(policy_file), "detector": str(detector_file), "dt": dt,
               "calibration": dataclasses.asdict(cal), "config": dataclasses.asdict(detector.cfg),
               "protocol": {"runs": runs, "pre": pre, "post": post, "hours": hours, "seed": seed},
               "faults": table, "false_alarms": false_alarms, "thresholds": sweep}
    _write(Path(out), results)
    return results


def _write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    with atomic(out / "results.md") as tmp:
        tmp.write_text(report(results))
    _figure(results, out / "thresholds.png")


def report(results: Mapping[str, Any]) -> str:
    """The markdown tables of ``results``."""
    dt, p = results["dt"], results["protocol"]

    def steps(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f} ({v * dt:.2f} s)"

    lines = [f"Detector on {results['env']}: {p['runs']} runs per fault ({p['pre']} healthy steps, {p['post']} faulty, "
             f"{p['post']} healthy again), seed {p['seed']}; delays in steps (robot seconds at dt {dt:g} s).", "",
             "| fault | detected | median delay | p90 delay | returned | median return | false returns | "
             "false alarms before |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results["faults"].items():
        lines.append(f"| {name} | {r['detected']}/{r['runs']} | {steps(r['median_delay_steps'])} | "
                     f"{steps(r['p90_delay_steps'])} | {r['returned']}/{r['detected']} | "
                     f"{steps(r['median_return_steps'])} | {r['false_returns']} | {r['false_alarms_before_fault']} |")
    lines += ["", "| healthy policy | hours | false alarms | per hour | max CUSUM / h |", "|---|---|---|---|---|"]
    for mode, r in results["false_alarms"].items():
        lines.append(
            f"| {mode} | {r['hours']:.1f} | {r['alarms']} | {r['per_hour']:.3f} | {r['max_cusum_over_h']:.2f} |"
        )
    lines += [
        "",
        "| h / calibrated h | h | false alarms per hour | median delay, total losses (steps) | missed total losses |",
        "|---|---|---|---|---|",
    ]
    for r in results["thresholds"]:
        delay = "-" if r["median_delay_total_loss_steps"] is None else f"{r['median_delay_total_loss_steps']:.0f}"
        lines.append(f"| {r['h_scale']:g} | {r['h']:.1f} | {r['false_alarms_per_hour']:.3f} | {delay} | "
                     f"{r['missed_total_loss']} |")
    return "\n".join(lines) + "\n"


def _figure(results: Mapping[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = results["thresholds"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    fa = [max(r["false_alarms_per_hour"], 1e-3) for r in sweep]
    delay = [
        np.nan if r["median_delay_total_loss_steps"] is None else r["median_delay_total_loss_steps"] for r in sweep
    ]
    ax.plot(delay, fa, "o-")
    for r, x, y in zip(sweep, delay, fa):
        ax.annotate(f"{r['h_scale']:g}h", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0.1, ls="--", c="grey", lw=0.8, label="target: 1 per 10 h")
    ax.set_yscale("log")
    ax.set_xlabel("median detection delay, total losses (steps at 20 Hz)")
    ax.set_ylabel("false alarms per hour (healthy; 1e-3 = none)")
    ax.set_title(f"{results['env']}: CUSUM threshold trade-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
