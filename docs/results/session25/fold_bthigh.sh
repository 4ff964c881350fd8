#!/bin/bash
# usage: docs/results/session25/fold_bthigh.sh SEED TAG SETTING...   (from the repository root; session 25 ran: fold_bthigh.sh {1,2} "member_risk max" lookahead.member_risk=max)
seed=$1; tag=$2; shift 2
source scripts/fault_task.sh
for F in bthigh bthigh+bshin bthigh+bfoot bthigh+ffoot; do
  echo "== $F: mesa N = 250 + lookahead (stacked) + $tag, seed $seed"
  args=()
  for s in "$@"; do args+=(--lookahead-set "$s"); done
  .venv/bin/python scripts/derate_check.py --task "$(fault_task $F)" --governor 0.002 --warnings \
    --checkpoint runs/multi_pf3_bthigh/mesa_${F}_250.safetensors --lookahead runs/la_fold23/la_${F}_250.safetensors \
    --episodes 60 --seed $seed "${args[@]}" 2>&1 | grep -v Warning
done
