"""``mesa-ros demo`` (the README's main job) end to end on small checkpoints: both runs, summary, datasets."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from mesa_ros.core.experiment import load_checkpoint

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"


def test_demo_runs_both_graphs_and_summarises(tmp_path, checkpoints, params_file, ros_env) -> None:
    cmd = [str(MESA_ROS), "demo", "--steps", "3000", "--steps-after-shield", "300", "--fault-step", "200",
           "--out", str(tmp_path),
           f"policy_checkpoint:={checkpoints['policy']}", f"safety_checkpoint:={checkpoints['safety']}",
           f"params_file:={params_file}"]
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr + result.stdout
    rows = {m.group(1).strip(): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"^\s+(.+?)\s+steps\s+(\d+)\s+return/1000 steps\s+-?[\d.]+\s+violations\s+(\d+)", result.stdout, re.M)}
    names = list(rows)
    assert names[:2] == ["before the fault", "fault, adapting (no shield)"]
    window = re.fullmatch(r"no shield \(sim t ([\d.]+)-([\d.]+) s\)", names[2])
    assert window and names[3] == f"shield on {window.group(0)[len('no shield '):]}"  # the same sim window
    before, adapting, baseline, shielded = (rows[k][0] for k in rows)
    assert before == 200  # the simulator applies the fault just before step 200
    assert adapting >= 200  # 200 post-fault transitions are collected before phase 2
    # Both runs cover the same sim-time window: at most one step per 0.05 s of it, fewer only by the resets
    # (an episode end takes one stamp), and the longer run's extra steps fall outside it.
    span = round((float(window.group(2)) - float(window.group(1))) / 0.05) + 1
    assert 0.9 * span <= min(baseline, shielded) and max(baseline, shielded) <= span
    assert shielded == 300  # the MESA run went on exactly --steps-after-shield steps after the shield came on

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"seed", "fault_step", "steps_after_shield", "fault_at_s", "shield_on_s", "window", "override_rate",
            "rows", "wall_seconds", "files"} <= set(summary)
    assert [(r["name"], r["steps"], r["violations"]) for r in summary["rows"]] == \
        [(name, *rows[name]) for name in names]  # every printed row, the same numbers
    assert summary["window"] == {"start_s": summary["shield_on_s"], "end_s": float(window.group(2))}
    assert summary["fault_at_s"] < summary["shield_on_s"] and 0.0 <= summary["override_rate"]["shield_on"] <= 1.0
    safe = summary["time_to_safe"]  # 200 post-fault transitions at 20 Hz, then phase 2's compute
    assert safe["transitions"] == 200 and safe["robot_s"] == pytest.approx(10.0 + safe["phase2_s"])
    assert "time to safe on a robot at 20 Hz" in result.stdout
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    adapted = load_checkpoint(summary["files"]["adapted_checkpoint"])  # what `mesa-ros calibration` reads
    assert adapted.safety is not None and adapted.extra["stage"] == "adapt"
    for run in ("mesa", "no_shield"):
        assert sorted(p.name for p in (tmp_path / run).glob("dataset_*.safetensors")) == \
            ["dataset_00.safetensors", "dataset_01.safetensors"]
