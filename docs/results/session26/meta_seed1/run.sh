#!/bin/bash
# usage: docs/results/session26/meta_seed1/run.sh FAULT...  (from the repository root; the data of scripts/critic_foresight.sh in runs/foresight_s26b)
#  foresight of the seed-1 meta-trained critics (mesa, multitask) on the fold
for F in "$@"; do
  D=runs/foresight_s26b/fold_bthigh/$F; POST=()
  for s in 7 8 9; do POST+=("det:$s:$D/det_$s.safetensors" "perturbed:$s:$D/perturbed_$s.safetensors"); done
  rm -f runs/foresight_s26c/$F.jsonl
  .venv/bin/python scripts/critic_foresight.py --mesa runs/foresight_s26c/mesa_seed1.safetensors \
    --multitask runs/foresight_s26c/multitask_seed1.safetensors --policy config/checkpoints/halfcheetah_disabled/policy.safetensors \
    --eval $D/eval.safetensors --post "${POST[@]}" --sizes 0 100 250 --methods mesa multitask --out runs/foresight_s26c/$F.jsonl
done
