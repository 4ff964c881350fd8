"""The graph with the shipped lookahead checkpoint (``adapt_method:=lookahead``): the adaptation node adapts its
model on the post-fault transitions and sends it; the safety monitor runs the model-lookahead shield with it,
overrides on a minority of the policy's own post-fault steps and only where the model's risk exceeds eps_risk;
the adapted checkpoint it used is written."""
from __future__ import annotations

import torch

from mesa_ros.core import checkpoint
from mesa_ros.core.config import LookaheadConfig
from mesa_ros.nodes.defaults import default_checkpoint

from observer import shielded_run

FAULT_STEP, AFTER_SHIELD = 200, 400
PARTICLES = 20  # the shipped lookahead's config: risk is a share of 20 particles


def test_lookahead_shield_adapts_and_overrides_a_minority_where_the_model_flags_risk(tmp_path, ros_env) -> None:
    shipped = default_checkpoint("HalfCheetah-Disabled", "lookahead")
    adapted = tmp_path / "adapted.safetensors"
    stamped = shielded_run(tmp_path / "bag", ros_env, FAULT_STEP, AFTER_SHIELD, f"safety_checkpoint:={shipped}",
                           "adapt_method:=lookahead", f"adapted_checkpoint:={adapted}")
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    assert 0 < sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # it acts, on a minority of the steps
    for d in shielded:
        assert d["eps_risk"] == 0.2 and abs(d["q_risk"] * PARTICLES - round(d["q_risk"] * PARTICLES)) < 1e-6, d
        assert not d["overridden"] or d["q_risk"] > d["eps_risk"], d  # an override only where the model flags risk
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])

    used, fitted = checkpoint.load(adapted), checkpoint.load(shipped)
    assert sorted(used.tensors) == ["catastrophe", "ensemble", "rehearsal", "sac"]
    # the node's defaults (transitions: -1, steps: -1) are the checkpoint config's post_transitions and adapt_steps
    assert used.extra["post_transitions"] == LookaheadConfig().post_transitions == 100
    assert not torch.equal(used.tensors["ensemble"]["out.weight"], fitted.tensors["ensemble"]["out.weight"])
