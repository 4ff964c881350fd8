"""``mesa-ros detector``: fit a change detector for a deployed policy, and measure it (``core/detector.py``).

``fit`` records the policy's healthy behaviour (perturbed, for the dynamics model; plain and noisy
continuous runs, for the CUSUM thresholds), fits and calibrates the detector and writes one small
file; the adaptation node uses it with ``detect:=true``. ``evaluate`` measures detection delays per
fault (total and partial losses, two-joint faults), the return to healthy, false alarms per hour of
healthy running and the threshold trade-off (``results.json``, ``results.md``, ``thresholds.png``).

Examples::

    mesa-ros detector fit --policy config/checkpoints/halfcheetah_disabled/policy.safetensors \\
        --out config/checkpoints/halfcheetah_disabled/detector.safetensors
    mesa-ros detector evaluate --detector config/checkpoints/halfcheetah_disabled/detector.safetensors \\
        --policy config/checkpoints/halfcheetah_disabled/policy.safetensors --out docs/results/detector
"""
from __future__ import annotations

import argparse
import json

from mesa_ros import detector_study
from mesa_ros.cli.common import add_force_arg, check_outputs, paper_name, set_threads
from mesa_ros.core.config import DetectorConfig, merge, parse_override
from mesa_ros.envs.faults import check_power_scale


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="fit / evaluate the change detector that notices a fault without an announcement",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="fit and calibrate a detector on a policy's healthy behaviour")
    fit.add_argument("--policy", required=True, help="the deployed task-policy checkpoint")
    fit.add_argument("--out", required=True, help="detector file (.safetensors) to write")
    fit.add_argument("--transitions", type=int, default=120_000,
                     help="healthy transitions fitting f, half perturbed, half noisy (default 120000)")
    fit.add_argument("--calibration-hours", type=float, default=5.0,
                     help="hours of healthy running per policy mode (deterministic, noisy) setting the thresholds "
                          "(default 5)")
    fit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="detector config value (core.config.DetectorConfig), e.g. --set margin=2 (repeatable)")
    ev = actions.add_parser("evaluate", help="detection delays, false alarms per hour, threshold trade-off")
    ev.add_argument("--detector", required=True, help="detector file written by 'fit'")
    ev.add_argument("--policy", required=True, help="the deployed task-policy checkpoint the detector was fitted for")
    ev.add_argument("--out", required=True, help="directory for results.json, results.md, thresholds.png")
    ev.add_argument("--runs", type=int, default=20, help="runs per fault (default 20)")
    ev.add_argument("--hours", type=float, default=10.0,
                    help="hours of healthy running per policy mode for the false-alarm rate (default 10)")
    ev.add_argument("--fault", action="append", default=None, metavar="JSON",
                    help="a fault as power scales, e.g. '{\"ffoot\": 0.5}' (repeatable; default: every joint's total "
                         "loss, k in {0.5, 0.7, 0.9}, two-joint faults)")
    for q in (fit, ev):
        q.add_argument("--env", default="HalfCheetah-Disabled", help="environment (default HalfCheetah-Disabled)")
        q.add_argument("--seed", type=int, help="seed (default: fit 0, evaluate 1000: never the fit's streams)")
        q.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        q.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
        add_force_arg(q)
    p.set_defaults(run=run)


def _positive(value: float, flag: str) -> None:
    if not value > 0:
        raise ValueError(f"{flag} must be > 0, got {value}")


def _faults(texts: list[str] | None) -> list[dict[str, float]] | None:
    if texts is None:
        return None
    faults = []
    for text in texts:
        try:
            fault = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--fault {text!r} is not JSON: {exc}") from None
        if not isinstance(fault, dict) or not fault:
            raise ValueError(f"--fault {text!r} must map joints to power scales in [0, 1]")
        try:
            faults.append({str(k): check_power_scale(str(k), v) for k, v in fault.items()})
        except ValueError as exc:
            raise ValueError(f"--fault {text!r}: {exc}") from None
    return faults


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    env = paper_name(args.env)
    if args.action == "fit":
        _positive(args.transitions, "--transitions")
        _positive(args.calibration_hours, "--calibration-hours")
        cfg = DetectorConfig()
        for text in args.overrides:
            cfg = merge(cfg, parse_override(text))
        check_outputs(args, [args.out], [args.policy])
        found = detector_study.fit(env, args.policy, args.out, cfg, fit_transitions=args.transitions,
                                   calibration_hours=args.calibration_hours, seed=args.seed or 0,
                                   progress=args.progress)
        c = found.calibration
        print(f"wrote {args.out}: k {c.k:g}, h {c.h:.2f} (largest healthy CUSUM {c.max_healthy_cusum:.2f} over "
              f"{c.calibration_steps} steps), h_clear {c.h_clear:.1f}")
        return 0
    _positive(args.runs, "--runs")
    _positive(args.hours, "--hours")
    faults = _faults(args.fault)
    check_outputs(args, [f"{args.out}/results.json"], [args.detector, args.policy])
    results = detector_study.evaluate(env, args.policy, args.detector, args.out, faults=faults, runs=args.runs,
                                      hours=args.hours, seed=1000 if args.seed is None else args.seed,
                                      progress=args.progress)
    print(detector_study.report(results), end="")
    return 0
