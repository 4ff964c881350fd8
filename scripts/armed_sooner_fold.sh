#!/usr/bin/env bash
# How few post-fault transitions the warning governor's critic needs (issue #12, item 5, session 22): on a validation
# fold of scripts/multi_fault_fold.sh (DIR holds its meta-trained mesa/multitask checkpoints), each critic adapted on
# the first N post-fault transitions of each FAULT (the deterministic policy, as the adaptation node collects them;
# phase 2 at Adam 1e-4, the node's rate; RRL learned from them alone), then the product's warning governor
# (derate_check.py --warnings at BUDGET, the shipped critics' critic_governor.budget) for EPISODES episodes, seed 1,
# beside the policy alone. N = 0: the meta-trained critic, no phase 2 (RRL has none).
# usage: scripts/armed_sooner_fold.sh DIR FAULT...   (env: SIZES "1000 500 250 100 0", METHODS "mesa multitask rrl",
#   EPISODES 60 (0: adapt only), BUDGET 0.002; ADAPT_SET "--set adapt.k=v ..." for phase 2 with TAG, a suffix of the
#   adapted checkpoints' names: DIR/METHOD_FAULT_N$TAG.safetensors)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/fault_task.sh
DIR=$1; shift; SIZES=${SIZES:-1000 500 250 100 0}; METHODS=${METHODS:-mesa multitask rrl}; EPISODES=${EPISODES:-60}
BUDGET=${BUDGET:-0.002}; read -ra ADAPT <<< "${ADAPT_SET:-}"
M=.venv/bin/mesa-ros; PY=.venv/bin/python; P=config/checkpoints/halfcheetah_disabled/policy.safetensors
for fault in "$@"; do
  T=$(fault_task "$fault")
  [ "$EPISODES" = 0 ] || { echo "== $fault: no shield"
    $PY scripts/derate_check.py --task "$T" --scales 1 --episodes "$EPISODES" --seed 1 | sed -n 1p; }
  for n in $SIZES; do
    post=$DIR/post_${fault}_$n.safetensors
    [ "$n" = 0 ] || [ -f "$post" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy "$P" \
      --deterministic --transitions "$n" --seed 7 --out "$post" --no-progress | tail -1
    for method in $METHODS; do
      ckpt=$DIR/${method}_${fault}_$n${TAG:-}.safetensors
      if [ "$n" = 0 ]; then
        [ "$method" != rrl ] || continue
        ckpt=$DIR/$method.safetensors
      elif [ "$method" = rrl ]; then
        $M adapt --method rrl --data "$post" --preset cpu-small --set adapt.lr=1e-4 --seed 0 --force --out "$ckpt" \
          --no-progress --threads 1 > /dev/null
      else
        $M adapt --checkpoint "$DIR/$method.safetensors" --data "$post" --set adapt.lr=1e-4 "${ADAPT[@]}" --force \
          --out "$ckpt" --no-progress --threads 1 > /dev/null
      fi
      [ "$EPISODES" != 0 ] || continue
      echo "== $fault: $method, N = $n${TAG:-}"
      $PY scripts/derate_check.py --task "$T" --governor "$BUDGET" --warnings --checkpoint "$ckpt" \
        --episodes "$EPISODES" --seed 1 | sed -n 1p
    done
  done
done
