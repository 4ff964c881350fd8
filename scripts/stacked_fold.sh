#!/usr/bin/env bash
# The stacked shield (core/stacked.py) on a validation fold (issue #12, session 23): a lookahead fitted as the shipped
# one (the deployed policy's perturbed behaviour under each single-joint total loss, 20k transitions) without the
# fold's joint FOLD and the test joint fshin; for each FAULT, critic (DIR/mesa_FAULT_N.safetensors, from
# scripts/armed_sooner_fold.sh) and model both adapted on the first N post-fault transitions (DIR/post_FAULT_N), then
# the warning governor with the lookahead deciding on its gait (derate_check.py --warnings --lookahead).
# usage: scripts/stacked_fold.sh DIR FOLD FAULT...   (env: N 250, EPISODES 60, SEED 1, BUDGET 0.002, METHOD mesa,
#   OUT runs/la_fold_FOLD)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/fault_task.sh
DIR=$1; FOLD=$2; shift 2; N=${N:-250}; EPISODES=${EPISODES:-60}; SEED=${SEED:-1}; BUDGET=${BUDGET:-0.002}
METHOD=${METHOD:-mesa}; OUT=${OUT:-runs/la_fold_$FOLD}
M=.venv/bin/mesa-ros; PY=.venv/bin/python; P=config/checkpoints/halfcheetah_disabled/policy.safetensors
mkdir -p "$OUT/train"
i=0
for joint in bthigh bshin bfoot fthigh fshin ffoot; do  # the seeds of scripts/make_demo_checkpoints.sh
  i=$((i + 1)); [ "$joint" = "$FOLD" ] || [ "$joint" = fshin ] && continue
  [ -f "$OUT/train/$joint.safetensors" ] || $M collect --env HalfCheetah-Disabled --split train \
    --task "{\"power_scale\": {\"$joint\": 0.0}}" --policy $P --deterministic --action-noise 0.3 \
    --random-stretch 0.01 20 --transitions 20000 --seed $i --out "$OUT/train/$joint.safetensors" --no-progress | tail -1
done
[ -f "$OUT/model.safetensors" ] || $M lookahead fit --data "$OUT/train" --policy $P --seed 0 --force \
  --out "$OUT/model.safetensors" --no-progress | tail -1
for fault in "$@"; do
  T=$(fault_task "$fault")
  $M lookahead adapt --checkpoint "$OUT/model.safetensors" --data "$DIR/post_${fault}_$N.safetensors" \
    --out "$OUT/model_${fault}_$N.safetensors" --force --no-progress | tail -1
  echo "== $fault: $METHOD N = $N + lookahead (stacked)"
  $PY scripts/derate_check.py --task "$T" --governor "$BUDGET" --warnings \
    --checkpoint "$DIR/${METHOD}_${fault}_$N.safetensors" --lookahead "$OUT/model_${fault}_$N.safetensors" \
    --episodes "$EPISODES" --seed "$SEED"
done
