#!/usr/bin/env bash
# The critics' foresight after phase 2 on a held-out fault (issue #12, session 26): data, then
# scripts/critic_foresight.py. Per FAULT: EVAL_N transitions of the deterministic policy (the labels, seed 21), and
# 1000 post-fault transitions per data seed 7, 8, 9 of two kinds: "det" (deterministic, as the adaptation node
# collects them) and "perturbed" (the paper's test data: the training data's N(0, 0.3^2) action noise and 20-step
# random stretches with probability 0.01). Phase 2 uses their first N (SIZES).
# usage: scripts/critic_foresight.sh MESA_CKPT MULTITASK_CKPT OUT FAULT...   (env: EVAL_N 30000, SIZES "0 100 250 1000",
#   METHODS "mesa multitask rrl", TAG: the results file OUT/FAULT/foresight$TAG.jsonl)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
MESA=$1; MT=$2; OUT=$3; shift 3
M=.venv/bin/mesa-ros; P=config/checkpoints/halfcheetah_disabled/policy.safetensors; EVAL_N=${EVAL_N:-30000}
source scripts/fault_task.sh
mkdir -p "$OUT"
for F in "$@"; do
  T=$(fault_task "$F"); D=$OUT/$F; mkdir -p "$D"; POST=()
  [ -f "$D/eval.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy $P \
    --deterministic --transitions "$EVAL_N" --seed 21 --out "$D/eval.safetensors" --no-progress | tail -1
  for s in 7 8 9; do
    [ -f "$D/det_$s.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy $P \
      --deterministic --transitions 1000 --seed $s --out "$D/det_$s.safetensors" --no-progress | tail -1
    [ -f "$D/perturbed_$s.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy $P \
      --deterministic --action-noise 0.3 --random-stretch 0.01 20 --transitions 1000 --seed $s \
      --out "$D/perturbed_$s.safetensors" --no-progress | tail -1
    POST+=("det:$s:$D/det_$s.safetensors" "perturbed:$s:$D/perturbed_$s.safetensors")
  done
  rm -f "$D/foresight${TAG:-}.jsonl"
  .venv/bin/python scripts/critic_foresight.py --mesa "$MESA" --multitask "$MT" --policy $P --eval "$D/eval.safetensors" \
    --post "${POST[@]}" --sizes ${SIZES:-0 100 250 1000} --methods ${METHODS:-mesa multitask rrl} --out "$D/foresight${TAG:-}.jsonl"
done
