"""Aggregate scripts/deployed_sweep.sh's summary.tsv over folds: one markdown row per variant.

    python scripts/sweep_table.py runs/sweep/summary.tsv [--folds bthigh bshin ...]

violations (sum over folds / episodes), return as a share of the no-shield return of the same fold
(mean over folds), override rate, and the calibration on each fold's held-out perturbed data (mean
Q_risk at a violation, share of states 31+ steps from one over eps_risk).
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tsv")
    parser.add_argument("--folds", nargs="*", help="only these folds (default: all in the file)")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader(open(args.tsv), delimiter="\t") if not args.folds or r["fold"] in args.folds]
    base = {r["fold"]: r for r in rows if r["variant"] == "no_shield"}
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        groups[r["variant"]].append(r)
    print(f"folds: {', '.join(base)}\n")
    print(
        "| variant | violations / episodes | return vs no shield | override rate | Q_risk at a violation "
        "| far states > eps_risk |"
    )
    print("|---|---|---|---|---|---|")
    for variant, group in groups.items():
        def mean(key: str, digits: int = 3) -> str:
            vals = [float(r[key].rstrip("%")) for r in group if r.get(key)]
            return f"{sum(vals) / len(vals):.{digits}f}" if vals else ""
        ret = [float(r["mean_return"]) / float(base[r["fold"]]["mean_return"]) for r in group]
        print(f"| {variant} | {sum(int(r['violations']) for r in group)}/{sum(int(r['episodes']) for r in group)} | "
              f"{100 * sum(ret) / len(ret):.0f}% | {100 * float(mean('override_rate')):.1f}% | {mean('q_d0')} | "
              f"{mean('far_over_eps', 1)}{'%' if mean('far_over_eps') else ''} |")


if __name__ == "__main__":
    main()
