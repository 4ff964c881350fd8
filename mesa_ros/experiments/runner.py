"""The resumable runner of the paper's comparison (sec. 5-6): an experiment of ``registry``, from nothing to a table.

``run_experiment`` collects the datasets (training tasks and the test task drawn from the
environment's distributions), runs the offline stage, phase 2 and phase 3 of every method for every
seed, and writes the per-episode metrics, plots and a markdown table. Layout of ``out``::

    experiment.json                     what was run (settings, test task, dataset sizes, config)
    data/train_NN.safetensors           offline datasets, collected once, shared by all methods and seeds
    data/test.safetensors
    offline/<method>[_<variant>]_seed<k>.safetensors   offline-stage checkpoint (critic, pi_rec, initial task
                                        policy); per variant only for a method whose offline stage reads the
                                        test data (MESA trains pi_rec on it, as the reference)
    offline/<method>[_<variant>]_seed<k>.metrics.csv   its training metrics (MAML / pooled losses)
    episodes/<method>[_<variant>]_seed<k>.csv     phase-3 rows of one unit (``online.EPISODE_FIELDS``)
    checkpoints/<method>[_<variant>]_seed<k>.phase2.safetensors   the safety layer after phase 2
    checkpoints/<method>[_<variant>]_seed<k>.phase2.metrics.csv   its per-step phase-2 losses
    checkpoints/<method>[_<variant>]_seed<k>.safetensors   its final checkpoint (task policy + safety layer)
    timings.csv                         wall time of every unit this directory has run
    episodes.csv, results.md, curves.png          the summary, rebuilt on every run

Every unit (a dataset, an offline checkpoint, a phase-3 CSV) is written atomically and skipped when
present, so an interrupted run resumes where it stopped; a changed setting (preset, overrides, data
seed) is refused instead of mixed in.

Seeds: a seed is the learners' seed (``cfg.seed``: network initialisation, minibatches, phase-3
exploration and environment noise). It does not change the data: the datasets and the test task
come from ``data_seed`` (training dataset i: seed ``data_seed + i``, test dataset
``data_seed + TEST_DATA_SEED``), as the paper's fixed offline datasets. Nothing is tuned on the
test environment: every hyperparameter comes from ``config/mesa/<env>.yaml`` and its preset.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mesa_ros.core import carl_agent, online
from mesa_ros.core.collect import collect
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.files import atomic, write_json
from mesa_ros.core.methods import METHODS, adapt_stage, get_method, offline_stage
from mesa_ros.core.restore import env_spaces, load_checkpoint, new_agent, save_checkpoint
from mesa_ros.core.tasks import draw_tasks
from mesa_ros.experiments import executors
from mesa_ros.experiments.metrics import MetricsLog, require_tensorboard
from mesa_ros.experiments.registry import (
    TEST_DATA_SEED,
    Experiment,
    Unit,
    Variant,
    get_experiment,
    offline_name,
    unit_config,
)
from mesa_ros.experiments.report import read_csv, report


@dataclass
class RunReport:
    """What ``run_experiment`` did: units run and skipped (by file name), and where the summary is."""

    out: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _check_settings(out: Path, settings: Mapping[str, Any]) -> None:
    """Refuse to resume a directory made with other settings (its units would not belong together)."""
    path = out / "experiment.json"
    if not path.is_file():
        return
    stored = json.loads(path.read_text()).get("settings", {})
    diff = {k: (stored.get(k), v) for k, v in settings.items() if stored.get(k) != v}
    if diff:
        what = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
        raise ValueError(f"{out} holds a run with other settings ({what}); use another --out or delete {out}")


# -- the units of work ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One unit of work, picklable: everything a worker process needs to run it from the files in ``out``."""

    kind: str  # "data", "offline" or "episodes"
    name: str  # e.g. "data/train_00", "offline/mesa_seed0", "episodes/mesa_seed0"
    path: str  # the file it writes (atomically); present = done
    exp: str
    out: str
    preset: str
    overrides: tuple[str, ...]
    data_seed: int
    unit: Unit | None = None
    collect: tuple[Any, ...] = ()  # data: (task, split, policy, transitions, seed, horizon)
    threads: int = 1
    tensorboard: str | None = None  # root of the TensorBoard runs (one per unit and stage), or None


def _board(root: str | None, stage: str, key: str) -> str | None:
    """The TensorBoard run directory of a unit's stage (``<root>/<stage>/<unit>``), or None without TensorBoard."""
    return None if root is None else str(Path(root) / stage / key)


def run_job(job: Job) -> tuple[float, str]:
    """Run ``job`` (in this or a worker process); returns its wall seconds and a note for the log."""
    import torch

    torch.set_num_threads(job.threads)
    exp, out, path = get_experiment(job.exp), Path(job.out), Path(job.path)
    start = time.perf_counter()
    if job.kind == "data":
        task, split, policy, n, seed, horizon = job.collect
        cfg = unit_config(exp, job.preset, job.overrides, job.data_seed)
        data = collect(exp.env, task, split, policy, num_transitions=n, seed=seed, progress=False,
                       max_episode_steps=horizon, sac_config=cfg.sac, start=exp.start)
        path.parent.mkdir(parents=True, exist_ok=True)
        data.save(path)
        note = data.summary()
    elif job.kind == "offline":
        note = _offline_unit(exp, job, _datasets(out))
    elif job.kind == "episodes":
        if get_method(job.unit.method, model_based=True).model_based:
            rows = _run_carl_unit(out, job, path)
        else:
            rows = _run_unit(exp, out, job.unit, unit_config(exp, job.preset, job.overrides, job.unit.seed,
                                                          job.unit.method),
                             env_spaces(exp.env), _test_dataset(out), path, job.tensorboard)
        note = (f"{len(rows)} episodes, {rows[-1]['cumulative_violations']} violations, "
                f"mean return {np.mean([r['return'] for r in rows]):.1f}")
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    return time.perf_counter() - start, note


def _datasets(out: Path) -> tuple[list[TransitionDataset], TransitionDataset]:
    """The training datasets (in order) and the test dataset of the experiment in ``out``."""
    return [TransitionDataset.load(p) for p in sorted((out / "data").glob("train_*.safetensors"))], _test_dataset(out)


def _test_dataset(out: Path) -> TransitionDataset:
    """The test dataset of the experiment in ``out`` (phase-3 units need nothing else)."""
    return TransitionDataset.load(out / "data" / "test.safetensors")


def _offline_unit(exp: Experiment, job: Job, data: tuple[list[TransitionDataset], TransitionDataset]) -> str:
    unit, (train, test), path = job.unit, data, Path(job.path)
    m = get_method(unit.method, model_based=True)
    ucfg = unit_config(exp, job.preset, job.overrides, unit.seed, unit.method)
    if m.model_based:
        return _carl_offline_unit(ucfg, job, train)
    space = env_spaces(exp.env)
    agent = new_agent(ucfg, space)
    with MetricsLog(path.with_suffix(".metrics.csv"), _board(job.tensorboard, "offline", unit.key)) as log:
        layer = offline_stage(m, ucfg, *space, agent.policy, train, _test_share(test, unit.variant),
                              seed=unit.seed, on_log=log.write)
    save_checkpoint(path, ucfg, m, space, agent, safety=layer, stage="meta-train",
                    train_tasks=[d.metadata.task for d in train])
    return f"{ucfg.meta.iterations} iterations"


# -- the run ---------------------------------------------------------------------------------------
def run_experiment(exp: Experiment | str, out: str | os.PathLike | None = None, *, preset: str = "cpu-small",
                   seeds: Sequence[int] | None = None, methods: Sequence[str] | None = None, data_seed: int = 0,
                   overrides: Sequence[str] = (), progress: bool = True,
                   echo: Callable[[str], None] | None = None, jobs: int = 1, dask: str | None = None,
                   threads: int = 1, tensorboard: str | os.PathLike | None = None) -> RunReport:
    """Run (or resume) ``exp`` into ``out`` (default ``runs/<name>``) and rebuild its summary.

    ``seeds`` default to ``range(exp.seeds)``, ``methods`` to ``exp.methods``; ``overrides`` are extra
    ``"section.key=value"`` config overrides (part of the settings a resume must match). Units run in three
    stages (datasets, offline checkpoints, phase-2/3 CSVs), each stage's units independent of one another:
    ``jobs`` > 1 runs them on that many local processes, ``dask`` on a Dask cluster (``executors``);
    every unit is seeded on its own, so the files are the same as a serial run's (wall times aside).
    ``tensorboard``: every unit's offline, phase-2 and phase-3 metrics also to TensorBoard, one run directory
    per unit and stage under it (``<tensorboard>/<offline|phase2|episodes>/<unit>``).
    """
    exp = get_experiment(exp) if isinstance(exp, str) else exp
    out = Path(out if out is not None else Path("runs") / exp.name)
    seeds = list(range(exp.seeds)) if seeds is None else list(seeds)
    methods = list(exp.methods if methods is None else methods)
    if not seeds or not methods:
        raise ValueError("give at least one seed and one method")
    for m in methods:
        get_method(m, model_based=True)
    if len(set(seeds)) != len(seeds) or len(set(methods)) != len(methods):
        raise ValueError(f"seeds {seeds} and methods {methods} must not repeat")
    if jobs < 1 or threads < 1:
        raise ValueError(f"jobs and threads must be >= 1, got {jobs} and {threads}")
    if tensorboard is not None:
        require_tensorboard()  # before any unit runs
    settings = {"experiment": exp.name, "env": exp.env, "preset": preset, "overrides": [*exp.overrides, *overrides],
                "data_seed": data_seed, "start": exp.start}
    cfg = unit_config(exp, preset, overrides, data_seed)
    _check_settings(out, settings)
    say = echo or (lambda text: tqdm.write(text, file=sys.stderr))

    def job(kind: str, name: str, path: Path, **kwargs: Any) -> Job:
        return Job(kind, name, str(path), exp.name, str(out), preset, tuple(overrides), data_seed, threads=threads,
                   tensorboard=None if tensorboard is None else str(tensorboard), **kwargs)

    horizon = None if exp.start == "near_obstacles" else cfg.online.max_episode_steps
    data_jobs = [job("data", f"data/train_{i:02d}", out / "data" / f"train_{i:02d}.safetensors",
                     collect=(task, "train", cfg.data.train_policy, cfg.data.train_transitions, data_seed + i, horizon))
                 for i, task in enumerate(draw_tasks(exp.env, "train", cfg.data.num_train_tasks, data_seed))]
    (test_task,) = draw_tasks(exp.env, "test", 1, data_seed, cfg.data.partial)
    data_jobs.append(job("data", "data/test", out / "data" / "test.safetensors",
                         collect=(test_task, "test", cfg.data.test_policy, cfg.data.test_transitions,
                                  data_seed + TEST_DATA_SEED, horizon)))
    offline_jobs, unit_jobs = [], []
    for m in methods:
        method = get_method(m, model_based=True)
        for s in seeds:
            if method.offline is not None or method.model_based:
                for v in exp.variants if method.offline_reads_test else exp.variants[:1]:
                    name = offline_name(m, v.key, s)
                    offline_jobs.append(job("offline", name, out / f"{name}.safetensors", unit=Unit(m, v, s)))
            for v in exp.variants if method.safe else exp.variants[:1]:
                unit = Unit(m, v, s)
                unit_jobs.append(job("episodes", f"episodes/{unit.key}", out / "episodes" / f"{unit.key}.csv",
                                     unit=unit))
    report = RunReport(out)
    bar = tqdm(total=len(data_jobs) + len(offline_jobs) + len(unit_jobs), desc=exp.name, unit="unit",
               disable=not progress, file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 60.0)
    timings = out / "timings.csv"

    def stage(backend: Any, todo: list[Job]) -> None:
        """Run the stage's missing units (in parallel on the backend), logging each as it finishes."""
        missing = []
        for j in todo:
            if Path(j.path).is_file():
                report.skipped.append(j.name)
                bar.update(1)
            else:
                missing.append(j)
        for j, (seconds, note) in backend(run_job, missing):
            report.ran.append(j.name)
            bar.update(1)
            new = not timings.exists()
            with timings.open("a") as f:
                f.write(("unit,seconds\n" if new else "") + f"{j.name},{seconds:.1f}\n")
            say(f"[{exp.name}] {j.name}: {note} ({seconds:.0f} s)")

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "experiment.json").is_file():
        write_json(out / "experiment.json", {"settings": settings})
    try:
        with executors.backend(jobs, dask) as backend:
            stage(backend, data_jobs)
            train, test = _datasets(out)
            write_json(
                out / "experiment.json",
                {
                    "settings": settings,
                    "summary": exp.summary,
                    "seeds": seeds,
                    "methods": methods,
                    "variants": [v.__dict__ for v in exp.variants],
                    "test_task": test.metadata.task,
                    "data": {
                        "train": [[len(d), d.num_violations] for d in train],
                        "test": [len(test), test.num_violations],
                    },
                    "config": cfg.to_dict(),
                },
            )
            stage(backend, offline_jobs)  # training data (and pi_rec's test data where the method reads it)
            stage(backend, unit_jobs)  # phase 2 + phase 3 in the test environment: one CSV per unit
    finally:
        bar.close()
    write_summary(out, finished_units(exp, out))
    return report


def _test_share(test: TransitionDataset, variant: Variant) -> TransitionDataset:
    return test if variant.test_fraction == 1.0 else test.fraction(variant.test_fraction)


def _run_unit(exp: Experiment, out: Path, unit: Unit, cfg: MesaConfig, space: Any, test: TransitionDataset,
              path: Path, tensorboard: str | None = None) -> list[dict[str, Any]]:
    """Phase 2 (``adapt_stage``) from the unit's offline checkpoint, then phase 3 (``online.run``); with
    ``tensorboard``, each phase's metrics also to ``<tensorboard>/phase2/<unit>`` and ``episodes/<unit>``."""
    method = get_method(unit.method)
    agent = new_agent(cfg, space)  # the same initial task policy as in the offline stage (same seed)
    offline = None
    if method.offline is not None:
        offline = load_checkpoint(out / f"{offline_name(unit.method, unit.variant.key, unit.seed)}.safetensors",
                                  env=exp.env).safety
    data = _test_share(test, unit.variant)
    task = test.metadata.task
    safety = None
    if method.safe:
        with MetricsLog(out / "checkpoints" / f"{unit.key}.phase2.metrics.csv", _board(tensorboard, "phase2", unit.key),
                        step_key="step") as log:
            safety, _ = adapt_stage(method, cfg, *space, agent.policy, data, offline, seed=unit.seed, on_log=log.write)
        # before phase 3 changes it: what the calibration table reads as "after phase 2"
        save_checkpoint(out / "checkpoints" / f"{unit.key}.phase2.safetensors", cfg, method, space, agent,
                        safety=safety, stage="adapt", task=task, test_transitions=len(data))
    with atomic(path) as tmp:
        with MetricsLog(tmp, _board(tensorboard, "episodes", unit.key), step_key="episode") as log:
            result = online.run(cfg, task, agent, safety, data if method.safe else None, seed=unit.seed,
                                on_episode=log.write)
        save_checkpoint(out / "checkpoints" / f"{unit.key}.safetensors", cfg, method, space, agent, safety=safety,
                        stage="online", task=task, test_transitions=len(data))
    return [r for r in result.rows if r["mode"] == "train"]


def _carl_offline_unit(cfg: MesaConfig, job: Job, train: list[TransitionDataset]) -> str:
    """CARL: the model learned by planning in the training tasks (one row per source episode to the metrics CSV);
    CARL-Offline: the model fitted on the training datasets."""
    unit, path = job.unit, Path(job.path)
    if unit.method == "carl_offline":
        agent = carl_agent.train_offline(cfg, train, unit.seed)
        note = f"fitted on {sum(len(d) for d in train)} offline transitions"
    else:
        with MetricsLog(path.with_suffix(".metrics.csv"), _board(job.tensorboard, "offline", unit.key),
                        step_key="episode") as log:
            agent = carl_agent.train_in_sources(cfg, [d.metadata.task for d in train], unit.seed, log.write)
        note = f"{len(agent.recorder)} transitions in the training environments"
    agent.save(path, {"stage": "offline", "method": unit.method})
    return note


def _run_carl_unit(out: Path, job: Job, path: Path) -> list[dict[str, Any]]:
    """Phase 3 of CARL / CARL-Offline from the unit's offline model (``carl_agent.run_target``)."""
    unit = job.unit
    agent = carl_agent.CarlAgent.load(out / f"{offline_name(unit.method, unit.variant.key, unit.seed)}.safetensors")
    test = _test_share(_test_dataset(out), unit.variant)
    with atomic(path) as tmp:
        with MetricsLog(tmp, _board(job.tensorboard, "episodes", unit.key), step_key="episode") as log:
            rows = carl_agent.run_target(agent.cfg, test.metadata.task, agent, test, seed=unit.seed,
                                         on_episode=log.write)
    return rows


# -- summary: combined CSV, then the report ---------------------------------------------------------
SUMMARY_FIELDS = ("method", "variant", "seed", "episode", "steps", "total_steps", "return", "violation",
                  "cumulative_violations", "override_rate", "wall_time")
DIGITS = {"return": 3, "override_rate": 4, "wall_time": 1}


def finished_units(exp: Experiment, out: Path) -> list[Unit]:
    """Every unit of ``exp`` whose phase-3 CSV is in ``out``, including those of earlier invocations with
    other ``--methods`` / ``--seeds`` (a directory holds one experiment's settings: ``_check_settings``)."""
    names = {p.stem for p in (out / "episodes").glob("*.csv")}
    seeds = sorted({int(name.rsplit("_seed", 1)[1]) for name in names if name.rsplit("_seed", 1)[-1].isdigit()})
    methods = [*exp.methods, *(m for m in METHODS if m not in exp.methods)]
    candidates = (Unit(m, v, s) for m in methods for v in exp.variants for s in seeds)
    return [unit for unit in candidates if unit.key in names]


def write_summary(out: Path, units: Sequence[Unit]) -> None:
    """``episodes.csv`` (train episodes of every finished unit, compact), ``results.md``, ``curves.png``."""
    rows = []
    for unit in units:
        path = out / "episodes" / f"{unit.key}.csv"
        if not path.is_file():
            continue
        for r in read_csv(path):
            if r["mode"] != "train":
                continue
            row = {"method": unit.method, "variant": unit.variant.key, "seed": unit.seed}
            for key in SUMMARY_FIELDS[3:]:
                value = float(r[key])
                row[key] = round(value, DIGITS[key]) if key in DIGITS else int(value)
            rows.append(row)
    with atomic(out / "episodes.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    report([out], out)
