#!/usr/bin/env bash
# session 25 (member_risk max): the adapted stacks of the demos, 100 fshin episodes each through the CLI (docs/results/session25/choice_rules.md); usage: cli_fshin.sh mesa|multitask|none
set -uo pipefail
cd "$(git rev-parse --show-toplevel)"
T='{"power_scale": {"fshin": 0}}'; PY=.venv/bin/python
one() {  # name dir seed
  echo "== $1 seed $3"
  $PY scripts/derate_check.py --task "$T" --governor 0.002 --warnings --checkpoint $2/adapted.safetensors \
    --lookahead $2/adapted.lookahead.safetensors --episodes 100 --seed $3 --lookahead-set lookahead.member_risk=max
}
for s in 0 1 2; do
  case $1 in
    mesa) one mesa_lookahead runs/demo_s23_final_0to8/mesa_lookahead_seed$s $s;;
    multitask) one multitask_lookahead runs/demo_s24_mt_0to8/multitask_lookahead_seed$s $s;;
    none) echo "== no shield seed $s"; $PY scripts/derate_check.py --task "$T" --scales 1 --episodes 100 --seed $s;;
  esac
done
