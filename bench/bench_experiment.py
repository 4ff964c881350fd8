"""Experiment backends: the same smoke experiment serial, on ``--jobs N`` local processes and on a local Dask
cluster of N workers, each from scratch in the same run; speed-up over serial and each engine's overhead.

The ideal speed-up is bounded by the cores and by the stages (datasets, offline checkpoints, phase-2/3 runs
run one stage after the other); the overhead of an engine is its wall time beyond the serial work divided
by N: start-up of the workers (each imports torch), shipping units and results.

    .venv/bin/python bench/bench_experiment.py [--experiment navigation-2] [--seeds 4] [--jobs 2] [--set K=V ...]
    # units of a few seconds each (the figures in the README):
    .venv/bin/python bench/bench_experiment.py --set meta.iterations=300 --set adapt.pretrain_steps=1000 \
        --set online.episodes=10
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from mesa_ros.experiments.runner import run_experiment

from results_file import save


def timed(out: Path, args: argparse.Namespace, **backend) -> tuple[float, float]:
    """(wall seconds of the whole run, sum of the units' own seconds from timings.csv)."""
    start = time.perf_counter()
    run_experiment(args.experiment, out, preset="smoke", seeds=list(range(args.seeds)), overrides=args.overrides,
                   progress=False, echo=lambda _: None, **backend)
    wall = time.perf_counter() - start
    units = sum(float(line.split(",")[1]) for line in (out / "timings.csv").read_text().splitlines()[1:])
    return wall, units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="navigation-2")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides making the units larger, e.g. --set meta.iterations=300")
    args = parser.parse_args()
    load_start = os.getloadavg()
    figures = {"experiment": args.experiment, "preset": "smoke", "overrides": args.overrides, "seeds": args.seeds,
               "jobs": args.jobs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, backend in (("serial", {}), (f"jobs{args.jobs}", {"jobs": args.jobs}),
                              (f"dask_local{args.jobs}", {"jobs": args.jobs, "dask": "local"})):
            wall, units = timed(Path(tmp) / name, args, **backend)
            figures[name] = {"wall_s": round(wall, 2), "unit_s": round(units, 2)}
            print(f"{name:>14}: {wall:7.1f} s wall, {units:7.1f} s of units")
    serial = figures["serial"]["wall_s"]
    for name in (f"jobs{args.jobs}", f"dask_local{args.jobs}"):
        wall = figures[name]["wall_s"]
        figures[name]["speedup"] = round(serial / wall, 2)
        figures[name]["overhead_s"] = round(wall - serial / args.jobs, 2)  # beyond a perfect split of the serial run
        print(f"{name:>14}: speed-up {serial / wall:.2f}x over serial (ideal {args.jobs}x), "
              f"{wall - serial / args.jobs:.1f} s beyond serial / {args.jobs}")
    save("bench_experiment", load_start, figures)


if __name__ == "__main__":
    main()
