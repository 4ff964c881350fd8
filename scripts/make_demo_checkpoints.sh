#!/usr/bin/env bash
# Regenerates the demo's shipped checkpoints in config/checkpoints/halfcheetah_disabled/ with the project's own
# pipeline, for the policy that is deployed (usage: scripts/make_demo_checkpoints.sh [OUT] [HELD_OUT]):
#  1. policy.safetensors: SAC on the healthy HalfCheetah (episodes end on head contact), 60k environment steps;
#  2. training data: that policy's own behaviour (its mean action, as the graph's task_policy runs it) under
#     the total loss of each joint but HELD_OUT (leave-one-fault-out; default fshin, the one fault of the six
#     that makes this policy fall without a shield: docs/results/deployed-policy/no_shield_faults.txt),
#     perturbed so that the data holds unsafe behaviour too: N(0, 0.3^2) action noise (of the half-range) and
#     stretches of 20 uniform random actions starting with probability 0.01 per step; 20k transitions each;
#  3. safety.safetensors (MESA: MAML of Q_risk) and safety_multitask.safetensors (Multi-Task: pooled), each
#     with a' ~ pi_task(s') from that policy and its recovery policy trained offline on the pooled training
#     data, preset cpu-small; trained on the same perturbed behaviour under the total loss of every set of 1-3
#     joints but HELD_OUT (25 faults; scripts/multi_fault_fold.sh), with the reference's 30% violating
#     transitions per offline batch (meta.pos_fraction) and the warning governor (critic_governor.budget 0.002:
#     the gait slowed on the critic's warnings instead of pi_rec's override), both chosen on the fold bthigh
#     (docs/results.md, "A critic that foresees falls, and a gait it slows").
#  4. lookahead.safetensors: the model-lookahead shield's model (mesa-ros lookahead fit) on the data of 2., with
#     the policy's actor and 10k rehearsal transitions for the adaptation on the robot.
#  5. detector.safetensors: the change detector for that policy (detect:=true), fitted and calibrated on its healthy
#     behaviour only (mesa-ros detector fit; no fault is ever seen).
# The held-out fault is never seen: it is what the demo injects (launch argument fault:=HELD_OUT).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
OUT=${1:-runs/demo_checkpoints}
HELD_OUT=${2:-fshin}
DEST=config/checkpoints/halfcheetah_disabled
M=.venv/bin/mesa-ros
mkdir -p "$OUT/train_$HELD_OUT" "$DEST"
[ -f "$OUT/policy.safetensors" ] || $M train-online --method unconstrained --env HalfCheetah-Disabled \
  --task '{"power_scale": {}}' --episodes 5000 --set online.max_total_steps=60000 --seed 0 \
  --out "$OUT/policy.safetensors" --no-progress
i=0
for fault in bthigh bshin bfoot fthigh fshin ffoot; do
  i=$((i + 1))
  [ "$fault" = "$HELD_OUT" ] && continue
  [ -f "$OUT/train_$HELD_OUT/$fault.safetensors" ] || $M collect --env HalfCheetah-Disabled --split train \
    --task "{\"power_scale\": {\"$fault\": 0.0}}" --policy "$OUT/policy.safetensors" --deterministic \
    --action-noise 0.3 --random-stretch 0.01 20 --transitions 20000 --seed "$i" \
    --out "$OUT/train_$HELD_OUT/$fault.safetensors" --no-progress
done
rm -f "$OUT/critics_$HELD_OUT/mesa.safetensors" "$OUT/critics_$HELD_OUT/multitask.safetensors"  # always retrained
POLICY="$OUT/policy.safetensors" HELD_OUT=$HELD_OUT META_ONLY=1 \
  META_SET="--set meta.pos_fraction=0.3 --set critic_governor.budget=0.002" \
  scripts/multi_fault_fold.sh "$HELD_OUT" "$OUT/critics_$HELD_OUT"
$M lookahead fit --data "$OUT/train_$HELD_OUT" --policy "$OUT/policy.safetensors" --seed 0 --force \
  --out "$OUT/lookahead_$HELD_OUT.safetensors" --no-progress
[ -f "$OUT/detector.safetensors" ] || $M detector fit --policy "$OUT/policy.safetensors" --seed 0 \
  --out "$OUT/detector.safetensors" --no-progress
cp "$OUT/policy.safetensors" "$DEST/policy.safetensors"
cp "$OUT/detector.safetensors" "$DEST/detector.safetensors"
cp "$OUT/critics_$HELD_OUT/mesa.safetensors" "$DEST/safety.safetensors"
cp "$OUT/critics_$HELD_OUT/multitask.safetensors" "$DEST/safety_multitask.safetensors"
cp "$OUT/lookahead_$HELD_OUT.safetensors" "$DEST/lookahead.safetensors"
echo "wrote $DEST/{policy,safety,safety_multitask,lookahead,detector}.safetensors (held-out fault: $HELD_OUT)"
