"""The stacked shield through the graph (``lookahead_checkpoint``, ``core.stacked``) with the shipped critic and
lookahead, armed at the fault (config/cheetah_fault.yaml): the adaptation node adapts both on the same post-fault
transitions and sends them one after the other; the monitor swaps in each part, publishes the lookahead's risk and
eps_risk, overrides only where that risk exceeds it and on a minority of the steps, and elsewhere executes c * a_task,
c on the critic's warning-governor ladder; both adapted parts are written."""
from __future__ import annotations

import re

import torch

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.bags import read_messages
from mesa_ros.core.config import MesaConfig
from mesa_ros.demo import command_scales

from observer import ci_sized_lookahead, shielded_run

FAULT_STEP, AFTER_SHIELD, TRANSITIONS = 200, 600, 200
PARTICLES = 20  # the shipped lookahead's config: its risk is a share of 20 particles


def test_stacked_shield_adapts_both_parts_and_overrides_only_where_the_model_flags_risk(tmp_path, ros_env) -> None:
    lookahead = ci_sized_lookahead(tmp_path)
    adapted = tmp_path / "adapted.safetensors"
    stamped, log = shielded_run(tmp_path / "bag", ros_env, FAULT_STEP, AFTER_SHIELD,
                                f"lookahead_checkpoint:={lookahead}", f"adapted_checkpoint:={adapted}",
                                "sync_adaptation:=true", f"adapt_transitions:={TRANSITIONS}")
    shielded = [d for _, d in stamped if d["shield_enabled"]]
    # armed at the fault on the monitor's files (id 0), then the adapted critic (id 1) and model (id 2) in use
    ids = [int(d["weights_id"]) for d in shielded]
    assert ids[0] == 0 and ids[-1] >= 2 and ids == sorted(ids), sorted(set(ids))
    assert ids.count(0) >= TRANSITIONS  # shielded while the post-fault transitions came in
    assert re.search(r"weights v2 from topic .*\n.*weights v3 from topic", log), "critic and model installed in turn"
    for d in shielded:  # the lookahead's risk (a share of its particles) and threshold
        assert d["eps_risk"] == 0.2 and abs(d["q_risk"] * PARTICLES - round(d["q_risk"] * PARTICLES)) < 1e-6, d
        assert not d["overridden"] or d["q_risk"] > d["eps_risk"], d
    assert 0 < sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)
    assert not any(d["overridden"] for _, d in stamped if not d["shield_enabled"])

    # elsewhere c * a_task, c on the critic governor's ladder (steps of 0.05 down to its floor 0.85)
    floor, step = MesaConfig().critic_governor.min_scale, MesaConfig().critic_governor.step
    measured = command_scales([wire.parse_action(m) for _, _, m in read_messages(tmp_path / "bag", {wire.COMMAND})])
    scales = {round(measured[stamp], 3) for stamp, d in stamped
              if d["shield_enabled"] and not d["overridden"] and stamp in measured}
    ladder = {round(1 - step * k, 3) for k in range(round((1 - floor) / step) + 1)}
    assert scales and scales <= ladder, sorted(scales)

    critic, model = checkpoint.load(adapted), checkpoint.load(adapted.with_suffix(".lookahead.safetensors"))
    assert "ensemble" not in critic.tensors and critic.extra["test_transitions"] == TRANSITIONS
    assert model.extra["post_transitions"] == TRANSITIONS
    offline = checkpoint.load(lookahead).tensors["ensemble"]["out.weight"]
    assert not torch.equal(model.tensors["ensemble"]["out.weight"], offline)
