#!/usr/bin/env bash
# The warning governor on a validation fold (issue #12, session 21; scripts/derate_check.py --warnings): the gait c * pi
# slowed while the adapted critic's warnings, 1[Q_risk(s, pi(s)) > eps_risk], exceed BUDGET per decision over a
# window (step rule), no pi_rec override; against the policy alone. Critics from scripts/multi_fault_fold.sh.
# usage: scripts/warning_governor_fold.sh DIR "BUDGETS" FAULT...   (env: EPISODES 60, WINDOW 100, METHOD mesa,
#   MIN_SCALE: the slowest gait allowed, default the checkpoint's critic_governor.min_scale, 0.85; SUFFIX: the
#   critics are DIR/METHOD_FAULT$SUFFIX.safetensors, e.g. _250 for armed_sooner_fold.sh's; SEEDS "1"; SET: more
#   "--set critic_governor.k=v"; BASE=0: no run without a shield; scripts/fold_table.py tabulates the log)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/fault_task.sh
DIR=$1; BUDGETS=$2; shift 2; EPISODES=${EPISODES:-60}; WINDOW=${WINDOW:-100}; METHOD=${METHOD:-mesa}
SEEDS=${SEEDS:-1}; read -ra EXTRA <<< "${SET:-}"
FLOOR=(); [ -z "${MIN_SCALE:-}" ] || FLOOR=(--set "critic_governor.min_scale=$MIN_SCALE")
PY=.venv/bin/python
for fault in "$@"; do
  T=$(fault_task "$fault")
  for seed in $SEEDS; do
    if [ "${BASE:-1}" = 1 ]; then
      echo "== $fault: no shield"
      $PY scripts/derate_check.py --task "$T" --scales 1 --episodes "$EPISODES" --seed "$seed" | tail -1
    fi
    for b in $BUDGETS; do
      echo "== $fault: $METHOD budget $b, window $WINDOW${MIN_SCALE:+, floor $MIN_SCALE}${SET:+, $SET}"
      $PY scripts/derate_check.py --task "$T" --governor "$b" --warnings --window "$WINDOW" "${FLOOR[@]}" "${EXTRA[@]}" \
        --checkpoint "$DIR/${METHOD}_$fault${SUFFIX:-}.safetensors" --episodes "$EPISODES" --seed "$seed"
    done
  done
done
