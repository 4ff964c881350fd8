"""The graph with the shipped lookahead checkpoint (``adapt_method:=lookahead``): the adaptation node adapts its
model on the post-fault transitions and sends it; the safety monitor runs the model-lookahead shield with it,
overrides on a minority of the policy's own post-fault steps and only where the model's risk exceeds eps_risk;
the adapted checkpoint it used is written."""
from __future__ import annotations

import subprocess
from pathlib import Path

import torch
import yaml

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.bags import read_messages
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.paths import config_file

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
FAULT_STEP, AFTER_SHIELD = 200, 400
PARTICLES = 20  # the shipped lookahead's config: risk is a share of 20 particles


def test_lookahead_shield_adapts_and_overrides_a_minority_where_the_model_flags_risk(tmp_path, ros_env) -> None:
    params = yaml.safe_load(config_file("cheetah_fault.yaml").read_text())
    params["adaptation"]["ros__parameters"].update(transitions=200, steps=50)  # CI-sized phase 2
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    shipped = default_checkpoint("HalfCheetah-Disabled", "lookahead")
    bag, adapted = tmp_path / "bag", tmp_path / "adapted.safetensors"
    cmd = [str(MESA_ROS), "launch", "cheetah_fault", f"fault_step:={FAULT_STEP}", "max_steps:=20000",
           f"steps_after_shield:={AFTER_SHIELD}", "record_bag:=true", f"bag_dir:={bag}", f"params_file:={params_file}",
           f"safety_checkpoint:={shipped}", "adapt_method:=lookahead", f"adapted_checkpoint:={adapted}"]
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=400)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"max_steps_after_shield={AFTER_SHIELD} reached" in log, log[-3000:]

    stamped = [wire.parse_values(m) for _, _, m in read_messages(bag, {wire.RISK})]
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    # one decision per state until the simulator stopped; reset states and the last state add a few stamps
    assert AFTER_SHIELD <= len({stamp for stamp, d in stamped if d["shield_enabled"]}) <= AFTER_SHIELD + 20
    assert 0 < sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # it acts, on a minority of the steps
    for d in shielded:
        assert d["eps_risk"] == 0.2 and abs(d["q_risk"] * PARTICLES - round(d["q_risk"] * PARTICLES)) < 1e-6, d
        assert not d["overridden"] or d["q_risk"] > d["eps_risk"], d  # an override only where the model flags risk
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])

    used, fitted = checkpoint.load(adapted), checkpoint.load(shipped)
    assert sorted(used.tensors) == ["catastrophe", "ensemble", "rehearsal", "sac"]
    assert used.extra["post_transitions"] == 200
    assert not torch.equal(used.tensors["ensemble"]["out.weight"], fitted.tensors["ensemble"]["out.weight"])
