#!/usr/bin/env bash
# The warning governor on a validation fold (issue #12, session 21; scripts/derate_check.py --warnings): the gait c * pi
# slowed while the adapted critic's warnings, 1[Q_risk(s, pi(s)) > eps_risk], exceed BUDGET per decision over a
# window (step rule), no pi_rec override; against the policy alone. Critics from scripts/multi_fault_fold.sh.
# usage: scripts/warning_governor_fold.sh DIR "BUDGETS" FAULT...   (env: EPISODES 60, WINDOW 100, METHOD mesa,
#   MIN_SCALE: the slowest gait allowed, default the checkpoint's critic_governor.min_scale, 0.85)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/fault_task.sh
DIR=$1; BUDGETS=$2; shift 2; EPISODES=${EPISODES:-60}; WINDOW=${WINDOW:-100}; METHOD=${METHOD:-mesa}
FLOOR=(); [ -z "${MIN_SCALE:-}" ] || FLOOR=(--set "critic_governor.min_scale=$MIN_SCALE")
PY=.venv/bin/python
for fault in "$@"; do
  T=$(fault_task "$fault")
  $PY scripts/derate_check.py --task "$T" --scales 1 --episodes "$EPISODES" --seed 1 | tail -1
  for b in $BUDGETS; do
    $PY scripts/derate_check.py --task "$T" --governor "$b" --warnings --window "$WINDOW" "${FLOOR[@]}" \
      --checkpoint "$DIR/${METHOD}_$fault.safetensors" --episodes "$EPISODES" --seed 1
  done
done
