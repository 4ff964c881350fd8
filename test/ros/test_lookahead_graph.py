"""The graph with the shipped lookahead checkpoint (``adapt_method:=lookahead``): the adaptation node adapts its
model on the post-fault transitions and sends it; the safety monitor runs the model-lookahead shield with it,
overrides on a minority of the policy's own post-fault steps and only where the model's risk exceeds eps_risk;
once more post-fault data are in, the model is adapted again and the monitor swaps to it; the adapted checkpoint
it used is written. A risk governor in the checkpoint's config slows the gait (c * a_task) in steps of its
config, only at the end of a window of decisions, and keeps c across the swap."""
from __future__ import annotations

import re

import torch

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.bags import read_messages
from mesa_ros.core.config import LookaheadConfig
from mesa_ros.demo import command_scales
from mesa_ros.nodes.defaults import default_checkpoint

from observer import clean_log, start_graph, watching

FAULT_STEP, AFTER_SWAP = 200, 150
PARTICLES = 20  # the shipped lookahead's config: risk is a share of 20 particles


def test_lookahead_shield_adapts_and_overrides_a_minority_where_the_model_flags_risk(tmp_path, ros_env) -> None:
    shipped = checkpoint.load(default_checkpoint("HalfCheetah-Disabled", "lookahead"))
    # the shipped model with a CI-sized second adaptation: on all post-fault transitions once 300 are in
    refine = {"refine_transitions": 300, "refine_steps": 250}
    # and a risk governor that acts within the run: c falls by 0.05 after each 50 decisions whose mean risk > 0.001
    governor = {"budget": 0.001, "window": 50, "step": 0.05, "max_steps_down": 1, "min_scale": 0.5, "rule": "step"}
    cfg = {**shipped.config, "lookahead": {**shipped.config["lookahead"], **refine}, "governor": governor}
    offline = checkpoint.save(tmp_path / "lookahead.safetensors", shipped.tensors, shipped.env, shipped.obs_dim,
                              shipped.act_dim, cfg, shipped.extra)
    adapted, bag = tmp_path / "adapted.safetensors", tmp_path / "bag"
    # Lockstep with the simulator waiting for the adaptation node (sync_adaptation), so the shielded steps before
    # the refined model are the same on any load (unsynced, a quiet run once refined so early that the shield never
    # overrode); stopped by events: the run goes on until the monitor has decided AFTER_SWAP more steps with the
    # refined weights, then Ctrl-C (the recorder closes the bag).
    graph = start_graph(ros_env, f"fault_step:={FAULT_STEP}", "max_steps:=20000", "record_bag:=true",
                        f"bag_dir:={bag}", f"safety_checkpoint:={offline}", "adapt_method:=lookahead",
                        f"adapted_checkpoint:={adapted}", "sync_adaptation:=true")
    with watching(graph) as obs:
        # the adaptation node's weights: id 1 the first adaptation's, id 2 the refined model's
        obs.wait(lambda: obs.shield_enabled == 1.0 and obs.weights_id >= 2, "the refined model", timeout=300)
        swapped = obs.decisions  # a margin of 20 for messages still on their way to the recorder at Ctrl-C
        obs.wait(lambda: obs.decisions >= swapped + AFTER_SWAP + 20, f"{AFTER_SWAP} decisions with the refined model")
        # /diagnostics: c and the mean risk it was chosen on (the step rule: one, of the gait that ran)
        obs.wait(lambda: "governor_window_risk" in obs.monitor, "the governor's window risk in /diagnostics")
        assert 0.5 <= float(obs.monitor["action_scale"]) <= 1.0 and 0.0 <= float(obs.monitor["governor_window_risk"])
    log = clean_log(graph)
    stamped = [wire.parse_values(msg) for _, _, msg in read_messages(bag, {wire.RISK})]
    steps = sorted(wire.parse_values(msg)[0] for _, _, msg in read_messages(bag, {wire.STEP}))
    shield_on = min(stamp for stamp, d in stamped if d["shield_enabled"])
    decided = {stamp for stamp, d in stamped if d["shield_enabled"]}
    assert not {stamp for stamp in steps[:-5] if stamp >= shield_on} - decided  # each shielded step was decided
    decisions = [d for _, d in stamped]
    shielded = [d for d in decisions if d["shield_enabled"]]
    assert 0 < sum(d["overridden"] for d in shielded) < 0.5 * len(shielded)  # it acts, on a minority of the steps
    for d in shielded:
        assert d["eps_risk"] == 0.2 and abs(d["q_risk"] * PARTICLES - round(d["q_risk"] * PARTICLES)) < 1e-6, d
        assert not d["overridden"] or d["q_risk"] > d["eps_risk"], d  # an override only where the model flags risk
    assert not any(d["overridden"] for d in decisions if not d["shield_enabled"])

    # the node's defaults (transitions: -1, steps: -1): the checkpoint config's post_transitions and adapt_steps
    assert f"{LookaheadConfig().post_transitions} transitions)" in log and LookaheadConfig().post_transitions == 100
    # then the second adaptation: the monitor swaps to its weights under the live shield
    ids = [int(d["weights_id"]) for d in shielded]
    assert ids[0] > 0 and ids[-1] > ids[0] and ids == sorted(ids), sorted(set(ids))
    assert ids.count(ids[-1]) >= AFTER_SWAP  # the bag holds the decisions the observer counted after the swap
    # once, on all transitions in by then: at least 300, more when the lockstep simulator ran on while the first
    # adaptation and the arming took their time (the node refines at its first shielded step; 880 seen in CI)
    refined = [int(n) for n in re.findall(r"lookahead model adapted again on (\d+) post-fault transitions", log)]
    assert len(refined) == 1 and refined[0] >= 300, refined
    used, fitted = checkpoint.load(adapted), shipped
    assert sorted(used.tensors) == ["catastrophe", "ensemble", "rehearsal", "sac"]
    assert used.extra["post_transitions"] == refined[0]  # the file holds what the monitor used last
    assert not torch.equal(used.tensors["ensemble"]["out.weight"], fitted.tensors["ensemble"]["out.weight"])

    # the governor: each shielded step's command is c * a_task (or the search's pick), c on the config's ladder,
    # falling below 1, and changing by at most one step per window of 50 decisions: not reset by the swap to the
    # refined model (stamps decided once only: a reset or a republished state can be decided again)
    measured = command_scales([wire.parse_action(m) for _, _, m in read_messages(bag, {wire.COMMAND})])
    seen = [(k, round(measured[stamp], 3), d["weights_id"])  # (index of the shielded decision, c, weights id)
            for k, (stamp, d) in enumerate((stamp, d) for stamp, d in stamped if d["shield_enabled"])
            if not d["overridden"] and stamp in measured]
    scales = [c for _, c, _ in seen]
    assert len(seen) > 100 and min(scales) < 1.0, sorted(set(scales))
    assert set(scales) <= {round(1 - 0.05 * k, 3) for k in range(11)}, sorted(set(scales))
    for (k1, c1, _), (k2, c2, _) in zip(seen, seen[1:]):
        assert abs(c2 - c1) <= 0.05 * ((k2 - k1) // 50 + 1) + 1e-6, (k1, c1, k2, c2)
    swap = next(i for i in range(1, len(seen)) if seen[i][2] != seen[i - 1][2])  # the refined model's first
    (k1, c1, _), (k2, c2, _) = seen[swap - 1], seen[swap]
    assert c1 < 1.0 and c2 <= c1 + 0.05 * ((k2 - k1) // 50 + 1) + 1e-6 and c2 < 1.0, seen[swap - 3:swap + 3]
