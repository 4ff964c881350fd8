"""``mesa-ros demo`` (the README's main job) end to end on small checkpoints: the runs, summary, figure, datasets."""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from mesa_ros.core.restore import load_checkpoint

from observer import params_with

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
ROW = re.compile(r"^\s+(.+?)\s+steps\s+(\d+)\s+return/1000 steps\s+-?[\d.]+\s+violations\s+(\d+)", re.M)


def test_demo_compares_each_shield_with_none_over_the_same_steps(tmp_path, checkpoints, params_file, ros_env) -> None:
    params_file = params_with(params_file, tmp_path / "params.yaml", {"adaptation": {"arm_on_fault": True}})  # shipped
    cmd = [str(MESA_ROS), "demo", "--steps", "3000", "--steps-after-shield", "300", "--fault-step", "200",
           "--shields", "mesa,rrl", "--out", str(tmp_path),
           f"policy_checkpoint:={checkpoints['policy']}", f"safety_checkpoint:={checkpoints['adapted']}",  # has pi_rec
           f"params_file:={params_file}"]
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, result.stderr + result.stdout
    rows = [(m.group(1).strip(), int(m.group(2)), int(m.group(3))) for m in ROW.finditer(result.stdout)]
    names = [name for name, _, _ in rows]
    assert names[:2] == ["before the fault", "fault, adapting (no shield) (mesa run)"]
    assert rows[0][1] == 200  # the simulator applies the fault just before step 200
    # MESA's shield is armed at the fault on the meta-trained critic (arm_on_fault): the lockstep simulator waits for
    # the adaptation node (sync_adaptation), whose ack waits for the monitor's answer, so it is on within a step or two
    assert rows[1][1] <= 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"seeds", "shields", "fault_step", "steps_after_shield", "rows", "runs", "wall_seconds", "figure"} <= set(
        summary
    )
    assert [(r["name"], r["steps"], r["violations"]) for r in summary["rows"]] == rows
    assert [(run["seed"], run["shield"]) for run in summary["runs"]] == [(0, "mesa"), (0, "rrl")]
    for run, (baseline, shielded) in zip(summary["runs"], zip(rows[2::2], rows[3::2])):
        window = re.fullmatch(r"no shield (\(sim t ([\d.]+)-([\d.]+) s\))", baseline[0])
        assert window and shielded[0] == f"{run['shield']} shield on {window.group(1)}"  # the same sim window
        assert run["window"] == {"start_s": run["shield_on_s"], "end_s": float(window.group(3))}
        if run["shield"] == "rrl":  # no critic before phase 2: fault step + 200 transitions, whatever the load
            assert run["shield_on_s"] == pytest.approx((200 + 200) * 0.05)
        else:
            assert run["fault_at_s"] <= run["shield_on_s"] <= run["fault_at_s"] + 2 * 0.05 + 1e-9
        assert shielded[1] == 300  # the run went on exactly --steps-after-shield steps after its shield came on
        # the unshielded run covers the same stamps: at most one step per 0.05 s, fewer only by the resets
        span = round((float(window.group(3)) - float(window.group(2))) / 0.05) + 1
        assert 0.9 * span <= baseline[1] <= span
        assert run["fault_at_s"] <= run["shield_on_s"] and 0.0 <= run["override_rate"] <= 1.0
        for key, row in (("no_shield", baseline), ("shield_on", shielded)):  # each violation, when after shield-on
            times = run["violations_after_shield_on_s"][key]
            assert len(times) == row[2] and all(0.0 <= t <= run["window"]["end_s"] - run["shield_on_s"]
                                                for t in times)
        # the governor is the lookahead's: a critic's kept commands are a_task itself (NaN: no kept decision with a
        # command of its own to measure c on; these untrained critics override nearly every step)
        assert run["action_scale"] == 1.0 or math.isnan(run["action_scale"]), run["action_scale"]
        safe = run["time_to_safe"]  # adapted after 200 post-fault transitions at 20 Hz, then phase 2's compute
        assert safe["transitions"] == 200 and safe["adapted_robot_s"] == pytest.approx(10.0 + safe["phase2_s"])
        assert safe["armed_at_fault"] == (run["shield"] == "mesa")
        assert safe["robot_s"] == pytest.approx(run["shield_on_s"] - run["fault_at_s"] if safe["armed_at_fault"]
                                                else safe["adapted_robot_s"])
        adapted = load_checkpoint(run["adapted_checkpoint"])  # what `mesa-ros calibration` reads
        assert adapted.safety is not None and adapted.method.name == run["shield"]
    assert len(load_checkpoint(summary["runs"][1]["adapted_checkpoint"]).critic.q_risk.heads) == 2  # RRL: twin heads
    assert "time to safe on a robot at 20 Hz" in result.stdout
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    for run in ("mesa_seed0", "rrl_seed0", "no_shield_seed0"):
        assert sorted(p.name for p in (tmp_path / run).glob("dataset_*.safetensors")) == \
            ["dataset_00.safetensors", "dataset_01.safetensors"]
