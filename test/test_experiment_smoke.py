"""``mesa-ros experiment`` end to end at smoke size (CI): data -> phases 1-3 for every method (CARL and
CARL-Offline included) -> CSV, PNG, table; resumable (a rerun skips finished units; a deleted unit alone reruns,
with the same numbers)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from mesa_ros.cli import main
from mesa_ros.core.methods import METHODS
from mesa_ros.experiments.registry import EXPERIMENTS, Unit
from mesa_ros.experiments.report import phase3_length
from mesa_ros.experiments.runner import run_experiment

torch.set_num_threads(1)
SEEDS = [0, 1]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def without_wall_time(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def test_navigation_2_end_to_end_then_resume(tmp_path):
    out = tmp_path / "navigation-2"
    assert main(["experiment", "navigation-2", "--preset", "smoke", "--seeds", "2", "--out", str(out),
                 "--methods", "mesa", "multitask", "rrl", "unconstrained", "carl,carl_offline", "--no-progress"]) == 0

    rows = read(out / "episodes.csv")
    episodes = 3  # smoke preset: online.episodes
    for method in METHODS:
        for seed in SEEDS:
            mine = [r for r in rows if (r["method"], r["seed"]) == (method, str(seed))]
            assert [int(r["episode"]) for r in mine] == list(range(1, episodes + 1)), (method, seed)
            stage = (
                "offline" if METHODS[method].model_based else "checkpoints"
            )  # CARL: its model after the offline stage
            assert (out / stage / f"{method}_seed{seed}.safetensors").stat().st_size > 0
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (
        out / "curves.png"
    ).stat().st_size > 10_000
    table = (out / "results.md").read_text()
    assert all(f"| {method} | 2 |" in table for method in METHODS)
    # the calibration table: every safe method after phases 1 (those with an offline stage), 2 and 3
    for method, stages in (("mesa", (1, 2, 3)), ("multitask", (1, 2, 3)), ("rrl", (2, 3))):
        for stage in (1, 2, 3):
            assert (f"| {method} (seed 0) | phase {stage} |" in table) == (stage in stages), (method, stage)
    assert "| calibrated | | 1.000 | 0.650 |" in table  # gamma_risk^d of Navigation-2
    assert len(list((out / "data").glob("train_*.safetensors"))) == 2 and (out / "data" / "test.safetensors").is_file()

    # a rerun finds every unit finished and redoes nothing
    unit_files = sorted(out.glob("*/*.*"))
    stamps = {p: p.stat().st_mtime_ns for p in unit_files}
    again = run_experiment("navigation-2", out, preset="smoke", seeds=SEEDS, methods=list(METHODS), progress=False,
                           echo=lambda _: None)
    assert again.ran == [] and len(again.skipped) == 2 + 1 + 4 * 2 + len(METHODS) * 2  # data, offline, phase 3
    assert {p: p.stat().st_mtime_ns for p in unit_files} == stamps
    assert without_wall_time(read(out / "episodes.csv")) == without_wall_time(rows)
    # a run of some methods / seeds still summarises every finished unit of the directory
    subset = run_experiment("navigation-2", out, preset="smoke", seeds=[1], methods=["mesa"], progress=False,
                            echo=lambda _: None)
    assert subset.ran == [] and without_wall_time(read(out / "episodes.csv")) == without_wall_time(rows)

    # a lost unit is the only one redone, from the stored data and offline checkpoint, with the same numbers
    for method in ("mesa", "carl"):
        lost = out / "episodes" / f"{method}_seed1.csv"
        before = read(lost)
        lost.unlink()
        third = run_experiment("navigation-2", out, preset="smoke", seeds=SEEDS, methods=list(METHODS), progress=False,
                               echo=lambda _: None)
        assert third.ran == [f"episodes/{method}_seed1"]
        assert without_wall_time(read(lost)) == without_wall_time(before)

    # other settings in the same directory are refused, not mixed in
    with pytest.raises(ValueError, match="other settings"):
        run_experiment("navigation-2", out, preset="smoke", data_seed=1, progress=False)

    # report: several experiment directories -> one table and one figure
    assert main(["experiment", "report", str(out), str(out), "--out", str(tmp_path / "combined")]) == 0
    assert (tmp_path / "combined" / "results.md").read_text().count("### navigation-2") == 2


def test_registry_names_the_papers_experiments_and_unit_files():
    assert set(EXPERIMENTS) == {"navigation-1", "navigation-2", "cartpole-length", "halfcheetah-disabled",
                                "ant-disabled", "ablation-test-size", "ablation-partial"}
    sizes = EXPERIMENTS["ablation-test-size"].variants
    assert [v.test_fraction for v in sizes] == [1, 1 / 2, 1 / 4, 1 / 8, 1 / 16]
    assert Unit("mesa", sizes[2], 3).key == "mesa_test1of4_seed3"
    assert "data.partial=true" in EXPERIMENTS["ablation-partial"].overrides


@pytest.mark.parametrize(
    "argv",
    [
        ["navigation-3"],
        ["navigation-2", "--methods", "meta-cpo"],
        ["navigation-2", "--seeds", "0"],
        ["navigation-2", "--preset", "tiny"],
    ],
)
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(["experiment", *argv])
    assert exc.value.code == 2


def test_bad_input_exits_2(capsys):
    assert main(["experiment", "report", "--out", "x"]) == 2
    assert "needs experiment directories" in capsys.readouterr().err


def test_test_size_ablation_adapts_on_fractions_of_the_test_dataset(tmp_path):
    """HalfCheetah (SAC early-stop training data), MESA with 1 .. 1/16 of the test set; one seed."""
    from mesa_ros.core import checkpoint

    out = tmp_path / "ablation"
    report = run_experiment("ablation-test-size", out, preset="smoke", seeds=[0], progress=False, echo=lambda _: None)
    variants = EXPERIMENTS["ablation-test-size"].variants
    assert report.ran[-len(variants):] == [f"episodes/{Unit('mesa', v, 0).key}" for v in variants]
    test_size = 100  # smoke preset: data.test_transitions
    used = [checkpoint.load(out / "checkpoints" / f"{Unit('mesa', v, 0).key}.safetensors").extra["test_transitions"]
            for v in variants]
    assert used == [100, 50, 25, 12, 6] == [round(test_size * v.test_fraction) for v in variants]
    assert {r["variant"] for r in read(out / "episodes.csv")} == {v.key for v in variants}
    table = (out / "results.md").read_text()
    assert "mesa test x1/16 | 1 |" in table
    # MESA's offline stage trains pi_rec on the test data: one offline checkpoint per test-set size
    assert sorted(p.name for p in (out / "offline").glob("*.safetensors")) == \
        sorted(f"{Unit('mesa', v, 0).key}.safetensors" for v in variants)
    assert "| mesa (seed 0) | phase 1 |" in table and "| mesa (seed 0) | phase 3 |" in table  # calibration


def test_curves_by_env_steps_when_episode_counts_differ():
    """Under a step budget seeds end after different episode counts: curves are then read off a step grid."""
    from mesa_ros.experiments.report import curve

    def rows(*episodes):  # (total_steps, cumulative_violations)
        return [{"total_steps": str(t), "cumulative_violations": str(v)} for t, v in episodes]

    x, mean, se = curve({0: rows((10, 1), (30, 1), (50, 2)), 1: rows((20, 0), (40, 2))}, "cumulative_violations", True)
    assert x[-1] == 40 and len(x) == 200  # up to the shortest seed's total steps
    at = dict(zip(x.tolist(), mean.tolist()))
    assert at[10.0] == 0.5 and at[20.0] == 0.5 and at[30.0] == 0.5 and at[40.0] == 1.5 and at[0.2] == 0.0
    x, mean, se = curve({0: rows((10, 1), (30, 1), (50, 2)), 1: rows((20, 0), (40, 2))}, "cumulative_violations")
    assert x.tolist() == [1, 2, 3] and mean.tolist() == [0.5, 1.5, 2.0] and se[-1] == 0.0  # by episode


def test_table_states_the_phase_3_budget():
    assert phase3_length({"episodes": 50, "max_episode_steps": 100, "max_total_steps": 0}) == \
        "50 episodes of at most 100 steps"
    assert phase3_length({"episodes": 5000, "max_episode_steps": 200, "max_total_steps": 20000}) == \
        "20000 env steps (episodes of at most 200 steps)"
