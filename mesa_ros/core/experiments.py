"""The paper's comparison (sec. 5-6), one experiment per entry of ``EXPERIMENTS``, from nothing to a table.

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
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mesa_ros import envs
from mesa_ros.core import executors
from mesa_ros.core import online
from mesa_ros.core.calibration import DISTANCE_BINS, calibration
from mesa_ros.core.collect import collect
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.files import atomic
from mesa_ros.core.experiment import (MetricsLog, draw_tasks, env_spaces, load_checkpoint, new_agent,
                                      require_tensorboard, resolve_config, save_checkpoint)
from mesa_ros.core import carl_agent
from mesa_ros.core.methods import METHODS, SAFETY_LAYER_METHODS, adapt_stage, get_method, offline_stage
from mesa_ros.envs.base import SPLITS

PRESETS = ("cpu-small", "smoke", "full")  # "full": the paper's values (no preset)
TEST_DATA_SEED = 10_000  # offset of the test dataset's collection seed from data_seed


@dataclass(frozen=True)
class Variant:
    """One condition of an experiment: the share of the test dataset phases 2-3 see (sec. 6.1)."""

    key: str = ""  # file-name part ("" for the main condition)
    label: str = ""  # legend / table part
    test_fraction: float = 1.0


@dataclass(frozen=True)
class Experiment:
    """One figure of the paper: an environment, its methods and conditions, how its data is collected."""

    name: str
    env: str
    summary: str
    methods: tuple[str, ...] = SAFETY_LAYER_METHODS  # CARL, CARL-Offline on request (--methods)
    seeds: int = 5
    variants: tuple[Variant, ...] = (Variant(),)
    start: str = "reset"  # collect(start=...): "near_obstacles" for the Navigation reference data
    overrides: tuple[str, ...] = ()  # config overrides that define the experiment


def _fraction_variant(denominator: int) -> Variant:
    return Variant(f"test1of{denominator}", f"test x1/{denominator}" if denominator > 1 else "test x1",
                   1.0 / denominator)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("navigation-1", "Navigation-1", "Navigation-1 (corridor), test B drawn from U(0.5, 1.5)^2 (fig. 4)",
               start="near_obstacles"),
    Experiment("navigation-2", "Navigation-2", "Navigation-2 (wall), test B drawn from U(0.5, 1.5)^2 (fig. 4)",
               start="near_obstacles"),
    Experiment("cartpole-length", "Cartpole-Length", "Cartpole-Length, test pole length 1.0 (fig. 5)"),
    Experiment("halfcheetah-disabled", "HalfCheetah-Disabled", "HalfCheetah-Disabled, test fault ffoot (fig. 5)",
               seeds=3),
    Experiment("ant-disabled", "Ant-Disabled", "Ant-Disabled, test leg 3 (fig. 5)", seeds=3),
    Experiment("ablation-test-size", "HalfCheetah-Disabled",
               "HalfCheetah-Disabled (ffoot), MESA with 1, 1/2, 1/4, 1/8, 1/16 of the test dataset (sec. 6.1)",
               methods=("mesa",), seeds=3, variants=tuple(_fraction_variant(d) for d in (1, 2, 4, 8, 16))),
    Experiment("ablation-partial", "HalfCheetah-Disabled",
               "HalfCheetah-Disabled, partial power loss k ~ U(0.5, 0.95) on ffoot at test time (sec. 6.2)",
               methods=("mesa", "multitask"), seeds=3, overrides=("data.partial=true",)),
)}


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


@dataclass(frozen=True)
class Unit:
    """One phase-3 run: a method in a condition with a seed."""

    method: str
    variant: Variant
    seed: int

    @property
    def key(self) -> str:
        return self.key_of(self.method, self.variant.key, self.seed)

    @staticmethod
    def key_of(method: str, variant: str, seed: int) -> str:
        return "_".join(filter(None, (method, variant, f"seed{seed}")))


@dataclass
class RunReport:
    """What ``run_experiment`` did: units run and skipped (by file name), and where the summary is."""

    out: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# -- small helpers ---------------------------------------------------------------------------------
def _resolve(exp: Experiment, preset: str, overrides: Sequence[str], seed: int = 0,
             method: str | None = None) -> MesaConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {list(PRESETS)}")
    return resolve_config(exp.env, None if preset == "full" else preset, [*exp.overrides, *overrides, f"seed={seed}"],
                          method=get_method(method, model_based=True) if method else None)


def draw_test_task(env: str, seed: int, partial: bool = False) -> dict[str, Any]:
    """The test task of ``seed`` (``draw_tasks``'s); ``partial``: the test fault at k ~ U(0.5, 0.95) instead."""
    if not partial:
        return draw_tasks(env, "test", 1, seed)[0]
    e = envs.make(env)
    try:
        return e.unwrapped.sample_task("test", np.random.default_rng([seed, SPLITS.index("test")]), partial=True)
    finally:
        e.close()


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """``doc`` as indented JSON, written atomically (``files.atomic``)."""
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


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
        cfg = _resolve(exp, job.preset, job.overrides, job.data_seed)
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
            rows = _run_unit(exp, out, job.unit, _resolve(exp, job.preset, job.overrides, job.unit.seed,
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
    ucfg = _resolve(exp, job.preset, job.overrides, unit.seed, unit.method)
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
    ``jobs`` > 1 runs them on that many local processes, ``dask`` on a Dask cluster (``mesa_ros.executors``);
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
    cfg = _resolve(exp, preset, overrides, data_seed)
    _check_settings(out, settings)
    say = echo or (lambda text: tqdm.write(text, file=sys.stderr))

    def job(kind: str, name: str, path: Path, **kwargs: Any) -> Job:
        return Job(kind, name, str(path), exp.name, str(out), preset, tuple(overrides), data_seed, threads=threads,
                   tensorboard=None if tensorboard is None else str(tensorboard), **kwargs)

    horizon = None if exp.start == "near_obstacles" else cfg.online.max_episode_steps
    data_jobs = [job("data", f"data/train_{i:02d}", out / "data" / f"train_{i:02d}.safetensors",
                     collect=(task, "train", cfg.data.train_policy, cfg.data.train_transitions, data_seed + i, horizon))
                 for i, task in enumerate(draw_tasks(exp.env, "train", cfg.data.num_train_tasks, data_seed))]
    data_jobs.append(job("data", "data/test", out / "data" / "test.safetensors",
                         collect=(draw_test_task(exp.env, data_seed, cfg.data.partial), "test", cfg.data.test_policy,
                                  cfg.data.test_transitions, data_seed + TEST_DATA_SEED, horizon)))
    offline_jobs, unit_jobs = [], []
    for m in methods:
        method = get_method(m, model_based=True)
        for s in seeds:
            if method.offline is not None or method.model_based:
                for v in exp.variants if method.offline_reads_test else exp.variants[:1]:
                    name = _offline_name(m, v.key, s)
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
            write_json(out / "experiment.json", {
                "settings": settings, "summary": exp.summary, "seeds": seeds, "methods": methods,
                "variants": [v.__dict__ for v in exp.variants], "test_task": test.metadata.task,
                "data": {"train": [[len(d), d.num_violations] for d in train], "test": [len(test), test.num_violations]},
                "config": cfg.to_dict()})
            stage(backend, offline_jobs)  # training data (and pi_rec's test data where the method reads it)
            stage(backend, unit_jobs)  # phase 2 + phase 3 in the test environment: one CSV per unit
    finally:
        bar.close()
    write_summary(out, finished_units(exp, out))
    return report


def _offline_name(method: str, variant: str, seed: int) -> str:
    """The offline checkpoint a unit starts from (per variant only when the offline stage reads the test data)."""
    return f"offline/{Unit.key_of(method, variant if get_method(method, True).offline_reads_test else '', seed)}"


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
        offline = load_checkpoint(out / f"{_offline_name(unit.method, unit.variant.key, unit.seed)}.safetensors",
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
    agent = carl_agent.CarlAgent.load(out / f"{_offline_name(unit.method, unit.variant.key, unit.seed)}.safetensors")
    test = _test_share(_test_dataset(out), unit.variant)
    with atomic(path) as tmp:
        with MetricsLog(tmp, _board(job.tensorboard, "episodes", unit.key), step_key="episode") as log:
            rows = carl_agent.run_target(agent.cfg, test.metadata.task, agent, test, seed=unit.seed,
                                         on_episode=log.write)
    return rows


# -- summary: combined CSV, markdown table, plots -------------------------------------------------
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
        for r in _read_csv(path):
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


def _load(out: Path) -> tuple[dict[str, Any], dict[tuple[str, str], dict[int, list[dict[str, str]]]], dict[str, float]]:
    """experiment.json, the rows of episodes.csv by (method, variant key) and seed, and unit seconds by name."""
    meta = json.loads((out / "experiment.json").read_text())
    curves: dict[tuple[str, str], dict[int, list[dict[str, str]]]] = {}
    for r in _read_csv(out / "episodes.csv"):
        curves.setdefault((r["method"], r["variant"]), {}).setdefault(int(r["seed"]), []).append(r)
    seconds: dict[str, float] = {}
    if (out / "timings.csv").is_file():
        for r in _read_csv(out / "timings.csv"):
            seconds[r["unit"]] = float(r["seconds"])  # the last run of a unit counts
    return meta, curves, seconds


def _label(meta: Mapping[str, Any], method: str, variant: str) -> str:
    labels = {v["key"]: v["label"] for v in meta["variants"]}
    return " ".join(filter(None, (method, labels.get(variant, variant))))


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0)


def _curve(per_seed: Mapping[int, list[dict[str, str]]], key: str,
           by_steps: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, mean and standard error over seeds of ``key``. x: the episode number (seeds that reached it),
    or with ``by_steps`` 200 env-step counts up to the shortest seed's total, each seed's value being
    that of its last episode finished by then (for phase-3 step budgets, where episode counts differ)."""
    if by_steps:
        end = min(int(rows[-1]["total_steps"]) for rows in per_seed.values())
        x = np.linspace(0, end, 201)[1:]
        table = np.full((len(per_seed), len(x)), np.nan)
        for i, rows in enumerate(per_seed.values()):
            done = np.searchsorted([int(r["total_steps"]) for r in rows], x, side="right") - 1
            values = np.array([float(r[key]) for r in rows])
            table[i] = np.where(done >= 0, values[np.maximum(done, 0)], 0.0 if key == "cumulative_violations" else np.nan)
    else:
        x = np.arange(1, max(len(rows) for rows in per_seed.values()) + 1)
        table = np.full((len(per_seed), len(x)), np.nan)
        for i, rows in enumerate(per_seed.values()):
            table[i, : len(rows)] = [float(r[key]) for r in rows]
    count = np.sum(~np.isnan(table), axis=0)
    mean = np.nansum(table, axis=0) / np.maximum(count, 1)
    var = np.nansum((table - mean) ** 2, axis=0) / np.maximum(count - 1, 1)
    mean = np.where(count > 0, mean, np.nan)
    return x, mean, np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), 0.0)


def _table(out: Path) -> str:
    meta, curves, seconds = _load(out)
    s, cfg = meta["settings"], meta["config"]
    train, test = meta["data"]["train"], meta["data"]["test"]
    lines = [f"### {s['experiment']}: {meta['summary']}", "",
             f"Preset `{s['preset']}`{' + ' + ', '.join(s['overrides']) if s['overrides'] else ''}; test task "
             f"`{json.dumps(meta['test_task'])}`; data seed {s['data_seed']}. Data: {len(train)} training datasets x "
             f"{train[0][0]} transitions ({np.mean([v for _, v in train]):.0f} violations on average), test dataset "
             f"{test[0]} transitions ({test[1]} violations). Phase 3: {_phase3_length(cfg['online'])} per seed.", "",
             "| method | seeds | total violations | average return | final return | steps / episode | override rate "
             "| wall time / seed |",
             "|---|---|---|---|---|---|---|---|"]
    for (method, variant), per_seed in curves.items():
        totals = [int(rows[-1]["cumulative_violations"]) for rows in per_seed.values()]
        average = [np.mean([float(r["return"]) for r in rows]) for rows in per_seed.values()]
        tail = max(1, min(len(rows) for rows in per_seed.values()) // 10)
        final = [np.mean([float(r["return"]) for r in rows[-tail:]]) for rows in per_seed.values()]
        steps = [[int(r["steps"]) for r in rows] for rows in per_seed.values()]
        overrides = [np.average([float(r["override_rate"]) for r in rows], weights=n) if sum(n) else 0.0
                     for rows, n in zip(per_seed.values(), steps)]
        times = [seconds.get("episodes/" + Unit.key_of(method, variant, seed), math.nan)
                 + seconds.get(_offline_name(method, variant, seed), 0.0) for seed in per_seed]
        wall = "-" if any(map(math.isnan, times)) else _duration(float(np.mean(times)))
        cells = [f"{m:.1f} ± {e:.1f}" for m, e in (_mean_se(totals), _mean_se(average), _mean_se(final),
                                                     _mean_se([np.mean(n) for n in steps]))]
        cells.append("{:.0%} ± {:.0%}".format(*_mean_se(overrides)))
        lines.append(f"| {_label(meta, method, variant)} | {len(per_seed)} | {' | '.join(cells)} | {wall} |")
    lines += ["", "Mean ± standard error over seeds. Total violations: constraint violations (each ends its episode) "
              "over all phase-3 episodes; average return: over all episodes; final return: over the last 10% "
              "(at least 1) of the episodes; steps / episode: episode length (an episode ends at a violation or "
              "the step limit); override rate: share of phase-3 steps on which the shield executed the recovery "
              "action. Wall time: offline stage + phase 2 + phase 3 of one seed, 1 thread.", ""]
    return "\n".join(lines + _calibration_table(out, meta))


def _calibration_table(out: Path, meta: Mapping[str, Any]) -> list[str]:
    """Median Q_risk(s, a) on the test dataset by steps to the next violation, beside gamma_risk^d, after
    phases 1, 2 and 3 of each safe method's lowest finished seed (main condition), and the share of the
    test states where Q_risk(s, pi_task(s)) > eps_risk (where the shield would override)."""
    test_path = out / "data" / "test.safetensors"
    if not test_path.is_file():
        return []
    data = TransitionDataset.load(test_path)
    spans = [f"{lo:.0f}" if lo == hi else f"{lo:.0f}-{hi:.0f}".replace("inf", "end") for lo, hi in DISTANCE_BINS]
    rows = []
    counts = dict.fromkeys(DISTANCE_BINS, 0)
    variant = meta["variants"][0]["key"]  # the first condition
    for method in meta["methods"]:
        if not get_method(method, model_based=True).safe:
            continue
        prefix = Unit.key_of(method, variant, 0)[:-1]  # "<method>[_<variant>]_seed"
        seeds = sorted(int(p.name[len(prefix):].split(".")[0]) for p in (out / "checkpoints").glob(
            f"{prefix}*.phase2.safetensors"))
        if not seeds:
            continue
        key = Unit.key_of(method, variant, seeds[0])
        stages = (("phase 1", out / f"{_offline_name(method, variant, seeds[0])}.safetensors"),
                  ("phase 2", out / "checkpoints" / f"{key}.phase2.safetensors"),
                  ("phase 3", out / "checkpoints" / f"{key}.safetensors"))
        for stage, path in stages:
            if not path.is_file():
                continue
            run = load_checkpoint(path, env=data.metadata.env)
            by_bin = {(r.low, r.high): r for r in calibration(run.critic, run.agent.policy, data,
                                                              run.cfg.shield.eps_risk)}
            gamma, eps = run.cfg.critic.gamma_risk, run.cfg.shield.eps_risk
            counts |= {b: r.count for b, r in by_bin.items()}  # the same test data for every row
            cells = [f"{by_bin[b].median_q:.3f}" if b in by_bin else "-" for b in DISTANCE_BINS]
            above = sum(r.above_eps * r.count for r in by_bin.values()) / max(1, sum(r.count for r in by_bin.values()))
            rows.append(f"| {method} (seed {seeds[0]}) | {stage} | {' | '.join(cells)} | {above:.0%} |")
    if not rows:
        return []
    return ["", f"Calibration on the test dataset: median Q_risk(s, a) by steps d to the next violation "
            f"(`mesa-ros calibration`), beside gamma_risk^d (gamma_risk {gamma}); last column: share of the "
            f"test states with Q_risk(s, pi_task(s)) > eps_risk {eps}.", "",
            f"| method | after | {' | '.join(f'd {s}' for s in spans)} | > eps_risk |",
            "|---|---|" + "---|" * (len(spans) + 1),
            f"| transitions | | {' | '.join(str(counts[b]) for b in DISTANCE_BINS)} | |",
            f"| calibrated | | {' | '.join(f'{gamma ** lo:.3f}' for lo, _ in DISTANCE_BINS)} | |", *rows, ""]


def _phase3_length(online: Mapping[str, Any]) -> str:
    """The phase-3 budget as configured: a number of episodes, or env steps when ``max_total_steps`` is set."""
    episodes = f"episodes of at most {online['max_episode_steps']} steps"
    if online.get("max_total_steps"):
        return f"{online['max_total_steps']} env steps ({episodes})"
    return f"{online['episodes']} {episodes}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def report(dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """``results.md`` (one table per experiment directory) and ``curves.png`` (one panel column per
    experiment: cumulative violations and return vs episode, mean ± standard error over seeds; vs env
    steps when the runs' episode counts differ, as under an ``online.max_total_steps`` budget) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    dirs = [Path(d) for d in dirs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic(out / "results.md") as tmp:
        tmp.write_text("\n".join(_table(d) for d in dirs))
    fig, axes = plt.subplots(2, len(dirs), figsize=(4.2 * len(dirs), 6.4), squeeze=False)
    for col, d in enumerate(dirs):
        meta, curves, _ = _load(d)
        by_steps = len({len(rows) for per_seed in curves.values() for rows in per_seed.values()}) > 1
        for i, ((method, variant), per_seed) in enumerate(curves.items()):
            label = _label(meta, method, variant)
            color = COLORS.get(label, f"C{i % 10}")
            for row, (key, ylabel) in enumerate((("cumulative_violations", "cumulative violations"),
                                                 ("return", "episode return"))):
                x, mean, se = _curve(per_seed, key, by_steps)
                ax = axes[row, col]
                ax.plot(x, mean, color=color, label=f"{label} ({len(per_seed)})", lw=1.5)
                ax.fill_between(x, mean - se, mean + se, color=color, alpha=0.2, lw=0)
                ax.set_ylabel(ylabel)
                ax.set_xlabel("phase-3 env steps" if by_steps else "phase-3 episode")
                ax.xaxis.set_major_locator(MaxNLocator(5 if by_steps else "auto", integer=True))
                if by_steps:  # env steps in thousands: full numbers collide on a narrow panel
                    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        axes[0, col].set_title(f"{meta['settings']['experiment']} ({meta['settings']['preset']})", fontsize=10)
        axes[0, col].legend(fontsize=7, title="method (seeds)", title_fontsize=7)
    fig.tight_layout()
    with atomic(out / "curves.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out / "results.md"


COLORS = {"unconstrained": "tab:gray", "rrl": "tab:orange", "multitask": "tab:blue", "mesa": "tab:red",
          "carl": "tab:green", "carl_offline": "tab:olive"}
