#!/bin/bash
# usage: docs/results/session26/lookahead_alone_fold.sh mean|max SEED   the lookahead alone with its model-rule governor on fold bthigh
mr=$1; seed=$2
cd "$(dirname "$(readlink -f "$0")")/../../.."
source scripts/fault_task.sh
for F in bthigh bthigh+bshin bthigh+bfoot bthigh+ffoot; do
  echo "== $F: lookahead alone (model-rule governor 0.005), member_risk $mr, seed $seed"
  .venv/bin/python scripts/derate_check.py --task "$(fault_task $F)" --governor 0.005 --set governor.rule=model \
    --set lookahead.member_risk=$mr --checkpoint runs/la_fold23/la_${F}_250.safetensors --episodes 60 --seed $seed 2>&1 | grep -v Warning
done
