#!/usr/bin/env bash
# A validation fold of the deployed-policy protocol with a richer meta-training distribution (issue #12, session 21):
# the total loss of every set of 1-3 joints drawn from the training joints but FOLD (and never the demo's held-out
# HELD_OUT), instead of the five single-joint losses; the same perturbed behaviour of the shipped policy per task
# (N(0, 0.3^2) action noise, 20-step random stretches with probability 0.01; 20k transitions, as
# make_demo_checkpoints.sh). Then MESA and Multi-Task meta-trained on them (PRESET, default cpu-small), phase 2 on
# 1000 post-fault transitions of each validation fault at Adam 1e-4 (the adaptation node's rate) (FOLD's total loss alone and with each other training joint),
# and EPISODES evaluation episodes with each shield beside the policy without one.
# usage: scripts/multi_fault_fold.sh FOLD [OUT]      (env: PRESET, EPISODES, HELD_OUT, NOISE, STRETCH, STRETCH_STEPS, MAX_JOINTS:
#   3 by default, 1 for the shipped distribution of single-joint losses as the control; META_SET: "--set k=v ..." for
#   meta-train, e.g. "--set meta.pos_fraction=0.3"; ONLY_FOLD=1: FOLD's total loss is the only validation fault; EPISODES=0:
#   adapt only, no evaluation; META_ONLY=1: stop after meta-training; POLICY: the deployed policy's checkpoint)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
FOLD=$1; OUT=${2:-runs/multi_$FOLD}; PRESET=${PRESET:-cpu-small}; EPISODES=${EPISODES:-30}; HELD_OUT=${HELD_OUT:-fshin}
NOISE=${NOISE:-0.3}; STRETCH=${STRETCH:-0.01}; STRETCH_STEPS=${STRETCH_STEPS:-20}; MAX_JOINTS=${MAX_JOINTS:-3}
M=.venv/bin/mesa-ros; P=${POLICY:-config/checkpoints/halfcheetah_disabled/policy.safetensors}
case " bthigh bshin bfoot fthigh fshin ffoot " in *" $FOLD "*) ;; *) echo "unknown joint FOLD=$FOLD" >&2; exit 2;; esac
JOINTS=(); for j in bthigh bshin bfoot fthigh fshin ffoot; do [ "$j" = "$FOLD" ] || [ "$j" = "$HELD_OUT" ] || JOINTS+=("$j"); done
source scripts/fault_task.sh
mkdir -p "$OUT/train"; i=0; n=${#JOINTS[@]}
collect_set() {   # the training dataset of one fault: the total loss of the joints given
  i=$((i + 1)); local name; name=$(IFS=+; echo "$*")
  [ -f "$OUT/train/$name.safetensors" ] || $M collect --env HalfCheetah-Disabled --split train --task "$(fault_task "$@")" \
    --policy "$P" --deterministic --action-noise "$NOISE" --random-stretch "$STRETCH" "$STRETCH_STEPS" --transitions 20000 \
    --seed $((100 + i)) --out "$OUT/train/$name.safetensors" --no-progress | tail -1
}
for ((a = 0; a < n; a++)); do
  collect_set "${JOINTS[a]}"
  [ "$MAX_JOINTS" -ge 2 ] || continue
  for ((b = a + 1; b < n; b++)); do
    collect_set "${JOINTS[a]}" "${JOINTS[b]}"
    [ "$MAX_JOINTS" -ge 3 ] || continue
    for ((c = b + 1; c < n; c++)); do collect_set "${JOINTS[a]}" "${JOINTS[b]}" "${JOINTS[c]}"; done
  done
done
for method in mesa multitask; do
  [ -f "$OUT/$method.safetensors" ] || $M meta-train --method $method --data "$OUT/train" --policy-checkpoint "$P" \
    --preset "$PRESET" ${META_SET:-} --seed 0 --out "$OUT/$method.safetensors" --no-progress --threads 1 | tail -1
done
[ "${META_ONLY:-0}" != 1 ] || exit 0
OTHERS=("${JOINTS[@]}"); [ "${ONLY_FOLD:-0}" != 1 ] || OTHERS=()
for other in "" "${OTHERS[@]}"; do
  if [ -z "$other" ]; then name=$FOLD; T=$(fault_task "$FOLD"); else name=$FOLD+$other; T=$(fault_task "$FOLD" "$other"); fi
  [ -f "$OUT/post_$name.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$T" --policy "$P" \
    --deterministic --transitions 1000 --seed 7 --out "$OUT/post_$name.safetensors" --no-progress | tail -1
  [ "$EPISODES" = 0 ] || { echo "== $name: no shield"
    $M evaluate --checkpoint "$P" --task "$T" --episodes "$EPISODES" --no-shield --no-progress --threads 1 | tail -1; }
  for method in mesa multitask; do
    $M adapt --checkpoint "$OUT/$method.safetensors" --data "$OUT/post_$name.safetensors" --set adapt.lr=1e-4 --force \
      --out "$OUT/${method}_$name.safetensors" --no-progress --threads 1 > /dev/null
    [ "$EPISODES" = 0 ] && continue
    echo "== $name: $method"
    $M calibration --checkpoint "$OUT/${method}_$name.safetensors" --data "$OUT/post_$name.safetensors" | tail -5
    $M evaluate --checkpoint "$OUT/${method}_$name.safetensors" --task "$T" --episodes "$EPISODES" --no-progress \
      --threads 1 | tail -1
  done
done
