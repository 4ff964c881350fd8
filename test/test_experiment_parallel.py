"""``mesa-ros experiment --jobs 2`` and ``--dask local`` give the serial run's files (smoke size): datasets and
offline checkpoints array for array with the same metadata (safetensors orders its header keys per process),
per-episode CSVs row for row (wall-clock columns aside)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mesa_ros.experiments.runner import run_experiment

RUN = dict(preset="smoke", seeds=[0, 1], methods=["unconstrained", "mesa"], progress=False, echo=lambda _: None)


def rows(out: Path) -> dict[str, list[dict[str, str]]]:
    """Every unit's phase-3 rows without the wall-clock columns."""
    found = {}
    for path in sorted((out / "episodes").glob("*.csv")):
        with path.open(newline="") as f:
            found[path.name] = [
                {k: v for k, v in r.items() if k not in ("wall_time", "time")} for r in csv.DictReader(f)
            ]
    return found


def files(out: Path, pattern: str) -> dict[str, tuple[dict[str, str], dict[str, bytes]]]:
    """Each safetensors file's header metadata and its tensors' bytes."""
    from safetensors import safe_open

    found = {}
    for path in sorted(out.glob(pattern)):
        with safe_open(str(path), "numpy") as f:
            found[path.name] = (f.metadata(), {k: f.get_tensor(k).tobytes() for k in f.keys()})
    return found


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "navigation-2"
    run_experiment("navigation-2", out, **RUN)
    return out


@pytest.mark.parametrize("backend", [{"jobs": 2}, {"jobs": 2, "dask": "local"}], ids=["jobs2", "dask-local"])
def test_parallel_runs_give_the_serial_files(serial, tmp_path, backend):
    out = tmp_path / "navigation-2"
    report = run_experiment("navigation-2", out, **RUN, **backend)
    assert sorted(report.ran) == sorted(["data/train_00", "data/train_01", "data/test", "offline/mesa_seed0",
                                         "offline/mesa_seed1", *(f"episodes/{m}_seed{s}" for m in RUN["methods"]
                                                                 for s in (0, 1))])
    assert files(out, "data/*.safetensors") == files(serial, "data/*.safetensors")
    assert files(out, "offline/*.safetensors") == files(serial, "offline/*.safetensors")
    assert rows(out) == rows(serial) and len(rows(out)) == 4
    assert run_experiment("navigation-2", out, **RUN, **backend).ran == []  # resumes: nothing left to do


def test_bad_jobs_are_a_clear_error_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="jobs and threads must be >= 1"):
        run_experiment("navigation-2", tmp_path / "x", **{**RUN, "seeds": [0]}, jobs=0)


def test_tensorboard_gets_one_run_per_unit_and_stage(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_experiment("navigation-2", tmp_path / "exp", **{**RUN, "seeds": [0]}, tensorboard=tmp_path / "tb")
    runs = sorted(str(p.relative_to(tmp_path / "tb")) for p in (tmp_path / "tb").glob("*/*"))
    assert runs == ["episodes/mesa_seed0", "episodes/unconstrained_seed0", "offline/mesa_seed0", "phase2/mesa_seed0"]
    acc = EventAccumulator(str(tmp_path / "tb" / "episodes" / "mesa_seed0"))
    acc.Reload()
    assert len(acc.Scalars("cumulative_violations")) == len(rows(tmp_path / "exp")["mesa_seed0.csv"])
