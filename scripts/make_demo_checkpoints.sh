#!/usr/bin/env bash
# Regenerates the demo's shipped checkpoints, config/checkpoints/halfcheetah_disabled/{policy,safety}.safetensors,
# with the project's own pipeline (~60 min on 2 CPU cores):
#  1. policy: SAC on the healthy HalfCheetah (episodes end on head contact), 60k environment steps;
#  2. training data as in the paper (sec. 5.1): for each training fault (bshin, bfoot, fthigh, fshin),
#     the replay buffer of an early-stopped SAC run on that fault, episodes continuing through
#     violations, 20k transitions each (paper: 400k);
#  3. safety: MESA phase 1 (MAML of Q_risk) on those four datasets, preset cpu-small.
# The test fault (ffoot) is never seen: it is what the demo injects.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
OUT=${1:-runs/demo_checkpoints}
DEST=config/checkpoints/halfcheetah_disabled
M=.venv/bin/mesa-ros
mkdir -p "$OUT/train" "$DEST"
[ -f "$OUT/policy.safetensors" ] || $M train-online --method unconstrained --env HalfCheetah-Disabled \
  --task '{"power_scale": {}}' --episodes 5000 --set online.max_total_steps=60000 --seed 0 \
  --out "$OUT/policy.safetensors" --no-progress
i=0
for fault in bshin bfoot fthigh fshin; do
  i=$((i + 1))
  [ -f "$OUT/train/$fault.safetensors" ] || $M collect --env HalfCheetah-Disabled --split train \
    --task "{\"power_scale\": {\"$fault\": 0.0}}" --policy sac_early_stop --transitions 20000 \
    --seed "$i" --out "$OUT/train/$fault.safetensors" --no-progress
done
$M meta-train --method mesa --data "$OUT/train" --preset cpu-small --seed 0 --out "$OUT/safety.safetensors" --no-progress
cp "$OUT/policy.safetensors" "$DEST/policy.safetensors"
cp "$OUT/safety.safetensors" "$DEST/safety.safetensors"
echo "wrote $DEST/policy.safetensors and $DEST/safety.safetensors"
