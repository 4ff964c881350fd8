#!/usr/bin/env bash
# One validation fold of the deployed-policy protocol, on *training* faults only (never the demo's held-out one):
# usage: scripts/deployed_fold.sh FOLD [DATA_DIR] [POS_FRACTIONS...]
#   MESA meta-trained (a' from the shipped policy) on the datasets in DATA_DIR (default: the demo checkpoints'
#   training data, runs/demo_checkpoints/train_fshin, made by scripts/make_demo_checkpoints.sh) except FOLD's,
#   1000 post-fault transitions of the policy under FOLD's total loss (as the adaptation node collects them),
#   phase 2 with each adapt.pos_fraction (default: 0.0 = the paper, 0.3 = the reference on HalfCheetah), then
#   for each: the calibration on the post-fault data and 10 evaluation episodes with the shield; at the end
#   the meta-trained critic's calibration and the policy without a shield.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
FOLD=$1; DATA=${2:-runs/demo_checkpoints/train_fshin}; shift $(( $# > 1 ? 2 : 1 )); PFS=${*:-0.0 0.3}
M=.venv/bin/mesa-ros; D=runs/fold_$FOLD; P=config/checkpoints/halfcheetah_disabled/policy.safetensors
TASK="{\"power_scale\": {\"$FOLD\": 0}}"
mkdir -p "$D/train"
for f in "$DATA"/*.safetensors; do [ "$(basename "$f" .safetensors)" = "$FOLD" ] || cp -n "$f" "$D/train/"; done
[ -f "$D/mesa.safetensors" ] || $M meta-train --method mesa --data "$D/train" --policy-checkpoint $P --preset cpu-small \
  --out "$D/mesa.safetensors" --no-progress --threads 1
[ -f "$D/post.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$TASK" --policy $P \
  --deterministic --transitions 1000 --seed 7 --out "$D/post.safetensors" --no-progress
for pf in $PFS; do
  echo "== phase 2 with adapt.pos_fraction=$pf"
  $M adapt --checkpoint "$D/mesa.safetensors" --data "$D/post.safetensors" --set adapt.pos_fraction="$pf" --force \
    --out "$D/adapted_pf$pf.safetensors" --no-progress --threads 1
  $M calibration --checkpoint "$D/adapted_pf$pf.safetensors" --data "$D/post.safetensors" | tail -6
  $M evaluate --checkpoint "$D/adapted_pf$pf.safetensors" --task "$TASK" --episodes 10 --no-progress --threads 1 | tail -1
done
echo "== the meta-trained critic (before phase 2), and the policy without a shield"
$M calibration --checkpoint "$D/mesa.safetensors" --data "$D/post.safetensors" | tail -6
$M evaluate --checkpoint "$D/mesa.safetensors" --task "$TASK" --episodes 10 --no-shield --no-progress --threads 1 | tail -1
