"""``mesa-ros experiment``: reproduce one of the paper's comparisons from nothing (data, phases 1-3, table, plots).

Collects the offline datasets, runs every method (offline stage, phase 2, phase 3) for every seed,
and writes per-episode metrics (CSV), ``curves.png`` (cumulative violations and return vs episode,
mean ± standard error over seeds) and ``results.md`` (mean ± standard error of total violations and
returns per method). Resumable: run the same command again after an interruption; finished
datasets, offline checkpoints and phase-3 runs are skipped. ``report`` combines finished
experiment directories into one table and one figure (a panel column per experiment).

The datasets and the test task are collected once per experiment (from ``--data-seed``) and shared
by all methods and seeds; a seed changes only the learners (initialisation, minibatches, phase-3
exploration and noise). Nothing is tuned on the test environment.

Experiments::

{experiments}

Examples::

    mesa-ros experiment navigation-2                        # cpu-small preset, 5 seeds -> runs/navigation-2
    mesa-ros experiment halfcheetah-disabled --seeds 3 --methods mesa multitask
    mesa-ros experiment navigation-1 --methods carl,carl_offline   # the model-based comparisons
    mesa-ros experiment navigation-2 --preset smoke --seeds 2 --out /tmp/nav2-smoke
    mesa-ros experiment cartpole-length --jobs 8              # each stage's units on 8 local processes
    mesa-ros experiment ant-disabled --dask tcp://scheduler:8786   # on a Dask cluster (pip install .[cluster])
    mesa-ros experiment report runs/navigation-1 runs/navigation-2 --out docs/results
"""
from __future__ import annotations

import argparse

from mesa_ros.cli.common import add_tensorboard_arg, set_threads
from mesa_ros.core.methods import METHODS
from mesa_ros.experiments.registry import EXPERIMENTS, PRESETS
from mesa_ros.experiments.report import report
from mesa_ros.experiments.runner import run_experiment


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    listing = "\n".join(f"    {e.name:22s} {e.summary}; methods {', '.join(e.methods)}; {e.seeds} seeds"
                        for e in EXPERIMENTS.values())
    p = sub.add_parser(name, help="reproduce one of the paper's experiments end to end (resumable)",
                       description=__doc__.format(experiments=listing),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*EXPERIMENTS, "report"], metavar="NAME",
                   help=f"experiment ({', '.join(EXPERIMENTS)}) or 'report'")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="report: finished experiment directories")
    p.add_argument("--preset", choices=PRESETS, default="cpu-small",
                   help="cpu-small (default), smoke (CI-sized, numbers meaningless) or full (the paper's values)")
    p.add_argument("--seeds", type=_seeds, metavar="N|A,B,..",
                   help="number of seeds (0..N-1) or a comma-separated list (default: the experiment's)")
    p.add_argument("--methods", nargs="+", type=_methods, metavar="METHOD",
                   help=f"methods, space- or comma-separated, of {sorted(METHODS)} (default: the experiment's; "
                        "carl and carl_offline only when named)")
    p.add_argument("--out", help="output directory (default: runs/<NAME>; report: required)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the datasets and the test task (default: 0)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set online.episodes=30 (repeatable; part of the run's settings)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per unit (default: 1)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run each stage's independent units on N local processes (default 1: in this process); "
                        "with --dask: the number of local Dask workers")
    add_tensorboard_arg(p)
    p.add_argument("--dask", metavar="ADDRESS", help="run the units on a Dask cluster: 'local' (a LocalCluster of "
                   "--jobs workers) or a scheduler address such as tcp://10.0.0.5:8786 (needs mesa_ros[cluster])")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(run=run)


def _seeds(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a comma-separated list of seeds, got {text!r}") from None
    if len(values) == 1:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(f"the number of seeds must be >= 1, got {values[0]}")
        return list(range(values[0]))
    return values


def _methods(text: str) -> list[str]:
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown or [text]}; expected {sorted(METHODS)}")
    return names


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    if args.methods is not None:
        args.methods = [name for names in args.methods for name in names]
    if args.name == "report":
        if not args.dirs or not args.out:
            raise ValueError("report needs experiment directories and --out")
        path = report(args.dirs, args.out)
        print(f"combined {len(args.dirs)} experiment(s) -> {path}, {path.with_name('curves.png')}")
        return 0
    if args.dirs:
        raise ValueError(f"unexpected arguments {args.dirs} (directories are for 'report')")
    result = run_experiment(args.name, args.out, preset=args.preset, seeds=args.seeds, methods=args.methods,
                            data_seed=args.data_seed, overrides=args.overrides, progress=args.progress,
                            jobs=args.jobs, dask=args.dask, threads=args.threads, tensorboard=args.tensorboard)
    print(f"{args.name}: ran {len(result.ran)} unit(s), skipped {len(result.skipped)} finished -> "
          f"{result.out / 'results.md'}, {result.out / 'curves.png'}, {result.out / 'episodes.csv'}")
    print((result.out / "results.md").read_text())
    return 0
