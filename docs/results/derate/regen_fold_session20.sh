#!/usr/bin/env bash
# Session 20: the validation fold's artefacts regenerated with the documented commands (runs/ did not survive the checkout)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../../.."   # the repository root
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
M=".venv/bin/python -m mesa_ros.cli"
P=config/checkpoints/halfcheetah_disabled/policy.safetensors
OUT=runs/demo_checkpoints/train_fshin
i=0
for fault in bthigh bshin bfoot fthigh fshin ffoot; do
  i=$((i + 1)); [ "$fault" = fshin ] && continue
  [ -f "$OUT/$fault.safetensors" ] || $M collect --env HalfCheetah-Disabled --split train \
    --task "{\"power_scale\": {\"$fault\": 0.0}}" --policy $P --deterministic \
    --action-noise 0.3 --random-stretch 0.01 20 --transitions 20000 --seed "$i" --out "$OUT/$fault.safetensors" --no-progress
  date
done
[ -f runs/la/fold_bthigh.safetensors ] || $M lookahead fit --data $OUT --exclude bthigh --policy $P --seed 0 \
  --out runs/la/fold_bthigh.safetensors --no-progress
date
$M collect --env HalfCheetah-Disabled --split test --task '{"power_scale": {"bthigh": 0}}' --policy $P --deterministic \
  --transitions 100 --out runs/la/post_bthigh_100.safetensors --seed 0 --no-progress
$M collect --env HalfCheetah-Disabled --split test --task '{"power_scale": {"bshin": 0, "bfoot": 0, "ffoot": 0}}' \
  --policy $P --deterministic --transitions 100 --out runs/val/post_triple_100.safetensors --seed 0 --no-progress
$M lookahead adapt --checkpoint runs/la/fold_bthigh.safetensors --data runs/la/post_bthigh_100.safetensors \
  --set lookahead.adapt_steps=250 --out runs/la/fold_bthigh_adapted_100_s250.safetensors
$M lookahead adapt --checkpoint runs/la/fold_bthigh.safetensors --data runs/val/post_triple_100.safetensors \
  --set lookahead.adapt_steps=250 --out runs/val/fold_bthigh_adapted_triple.safetensors
date; echo DONE
