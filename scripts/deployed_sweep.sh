#!/usr/bin/env bash
# Issue #12 item 5 and the phase-2 rate, decided on *training* faults only (never the demo's held-out fshin):
# usage: scripts/deployed_sweep.sh [FOLD...]   (default: bthigh bshin bfoot fthigh ffoot)
#   env: DATA (default runs/demo_checkpoints/train_fshin, made by scripts/make_demo_checkpoints.sh), OUT (runs/sweep),
#        LRS (phase-2 Adam rates, default "1e-3 1e-4"), SIZES (post-fault transitions, "1000 500 250 100"), EPISODES (10),
#        SET (config overrides for meta-train and phase 2, e.g. "recovery.bc_weight=1"; give OUT a new folder with it),
#        SCALE (power left on the held-out joint, default 0 = total loss; 0.5: the partial-loss fold, rows "<fold>@0.5")
# Per fold F: MESA meta-trained (a' from the shipped policy) on the other faults' datasets; N post-fault transitions
# of the policy under F's total loss (deterministic, as the adaptation node collects them); phase 2 at each rate;
# then the adapted critic's calibration on F's *perturbed* dataset (held out: the falls the policy can have under
# F) and EPISODES evaluation episodes with the shield, beside the policy without a shield and the meta-trained
# layer without phase 2. One TSV row per (fold, variant): $OUT/summary.tsv.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
DATA=${DATA:-runs/demo_checkpoints/train_fshin}; OUT=${OUT:-runs/sweep}; EPISODES=${EPISODES:-10}
LRS=${LRS:-1e-3 1e-4}; SIZES=${SIZES:-1000 500 250 100}
FOLDS=${*:-bthigh bshin bfoot fthigh ffoot}
SETS=(); for kv in ${SET:-}; do SETS+=(--set "$kv"); done
M=.venv/bin/mesa-ros; P=config/checkpoints/halfcheetah_disabled/policy.safetensors
mkdir -p "$OUT"; TSV=$OUT/summary.tsv
[ -f "$TSV" ] || printf 'fold\tvariant\tviolations\tepisodes\tmean_return\toverride_rate\tq_d0\tq_d1_3\tfar_over_eps\n' > "$TSV"

# calibration on the held-out perturbed data -> "q_d0 q_d1_3 far_over_eps"
calib() { $M calibration --checkpoint "$1" --data "$DATA/$2.safetensors" \
  | awk '$1=="0"{d0=$4} $1=="1-3"{d13=$4} $1=="31-end"{far=$6} END{printf "%s\t%s\t%s", d0, d13, far}'; }
# evaluation -> "violations episodes mean_return override_rate"
evalrow() { $M evaluate --checkpoint "$1" --task "$2" --episodes "$EPISODES" --no-progress --threads 1 "${@:3}" | tail -1 \
  | sed -E 's/.*: ([0-9]+) episodes, mean return ([-0-9.]+), violations ([0-9]+)\/[0-9]+, mean override rate ([0-9.]+).*/\3\t\1\t\2\t\4/'; }

for F in $FOLDS; do
  [ "$F" = fshin ] && [ -z "${REPORT_TEST:-}" ] && { echo "fshin is the demo's held-out fault: not a validation fold" \
    "(REPORT_TEST=1: measure it for the report, after the choice)" >&2; exit 2; }
  K=${SCALE:-0}; D=$OUT/fold_$F; TASK="{\"power_scale\": {\"$F\": $K}}"; mkdir -p "$D/train"
  R=$F; P2=post; [ "$K" = 0 ] || { R="$F@$K"; P2="post@$K"; }
  for f in "$DATA"/*.safetensors; do [ "$(basename "$f" .safetensors)" = "$F" ] || cp -n "$f" "$D/train/"; done
  [ -f "$D/mesa.safetensors" ] || $M meta-train --method mesa --data "$D/train" --policy-checkpoint $P \
    --preset cpu-small "${SETS[@]}" --out "$D/mesa.safetensors" --no-progress --threads 1
  grep -q "^$R	no_shield	" "$TSV" || printf '%s\tno_shield\t%s\t\t\t\n' "$R" "$(evalrow "$D/mesa.safetensors" "$TASK" --no-shield)" >> "$TSV"
  grep -q "^$R	meta_only	" "$TSV" || printf '%s\tmeta_only\t%s\t%s\n' "$R" "$(evalrow "$D/mesa.safetensors" "$TASK")" \
    "$(calib "$D/mesa.safetensors" "$F")" >> "$TSV"
  for N in $SIZES; do
    [ -f "$D/${P2}_$N.safetensors" ] || $M collect --env HalfCheetah-Disabled --split test --task "$TASK" --policy $P \
      --deterministic --transitions "$N" --seed 7 --out "$D/${P2}_$N.safetensors" --no-progress
    for LR in $LRS; do
      V=lr${LR}_n$N; grep -q "^$R	$V	" "$TSV" && continue
      $M adapt --checkpoint "$D/mesa.safetensors" --data "$D/${P2}_$N.safetensors" --set adapt.lr="$LR" "${SETS[@]}" --force \
        --out "$D/$V@$K.safetensors" --no-progress --threads 1 > /dev/null
      printf '%s\t%s\t%s\t%s\n' "$R" "$V" "$(evalrow "$D/$V@$K.safetensors" "$TASK")" "$(calib "$D/$V@$K.safetensors" "$F")" >> "$TSV"
    done
  done
done
column -t -s $'\t' "$TSV"
