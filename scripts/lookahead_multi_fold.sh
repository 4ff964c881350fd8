#!/usr/bin/env bash
# The lookahead's model fitted on the single-joint training faults (as shipped) against one fitted on every 1-3
# joint total loss of the training joints (scripts/multi_fault_fold.sh's data), on the validation fold FOLD: each
# adapted on 100 post-fault transitions (the product's quick model: lookahead.post_transitions, adapt_steps) of each
# validation fault, then EPISODES episodes with the shield as shipped (governor included) and without one.
# usage: scripts/lookahead_multi_fold.sh MODEL NAME [FAULT...]   (env: EPISODES, default 60)
#   MODEL: a fitted (unadapted) lookahead checkpoint, NAME: its label in runs/la_multi/
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/fault_task.sh
MODEL=$1; NAME=$2; shift 2; EPISODES=${EPISODES:-60}
M=.venv/bin/mesa-ros; P=config/checkpoints/halfcheetah_disabled/policy.safetensors; D=runs/la_multi
mkdir -p $D
for fault in "$@"; do   # a fault: joints joined by '+', each lost entirely
  T=$(fault_task "$fault")
  [ -f "$D/post_$fault.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy $P \
    --deterministic --transitions 100 --seed 0 --out "$D/post_$fault.safetensors" --no-progress | tail -1
  $M lookahead adapt --checkpoint "$MODEL" --data "$D/post_$fault.safetensors" --out "$D/${NAME}_$fault.safetensors" \
    --force --no-progress | tail -1
  echo "== $NAME $fault"
  $M lookahead evaluate --checkpoint "$D/${NAME}_$fault.safetensors" --task "$T" --episodes "$EPISODES" --seed 0 \
    --modes none,shield --no-progress | tail -3
done
