"""``mesa-ros demo`` (the README's main job) end to end on small checkpoints: both runs, summary, datasets."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"


def test_demo_runs_both_graphs_and_summarises(tmp_path, checkpoints, params_file, ros_env) -> None:
    cmd = [str(MESA_ROS), "demo", "--steps", "3000", "--fault-step", "200", "--out", str(tmp_path),
           f"policy_checkpoint:={checkpoints['policy']}", f"safety_checkpoint:={checkpoints['safety']}",
           f"params_file:={params_file}"]
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr + result.stdout
    rows = {m.group(1).strip(): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"^\s+(.+?)\s+steps\s+(\d+)\s+return/1000 steps\s+-?[\d.]+\s+violations\s+(\d+)", result.stdout, re.M)}
    assert list(rows) == ["before the fault", "fault, adapting (no shield)", "same window, no shield",
                          "after adaptation, shield on"]
    before, adapting, baseline, shielded = (rows[k][0] for k in rows)
    assert before >= 200 and adapting >= 200  # 200 post-fault transitions are collected before phase 2
    assert before + adapting + shielded == 3000
    assert baseline == shielded  # the no-shield run is compared over the same window
    for run in ("mesa", "no_shield"):
        assert sorted(p.name for p in (tmp_path / run).glob("dataset_*.safetensors")) == \
            ["dataset_00.safetensors", "dataset_01.safetensors"]
