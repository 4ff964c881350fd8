"""Tables of scripts/critic_foresight.py's JSON lines (issue #12, session 26): per data kind and N, each method's
AUC, warnings in time and false alarms (means over faults and data seeds), and MESA's paired AUC difference to
Multi-Task and RRL with its standard error over the (fault, data seed) pairs.

    python scripts/foresight_table.py runs/foresight_s26/fold_bthigh/*/foresight.jsonl
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np


def main(paths: list[str]) -> None:
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f]
    falls = {json.dumps(r["task"], sort_keys=True): r["positives"] // r["horizon"] for r in rows}
    print(f"{len(rows)} rows, {len(falls)} faults, ~{sum(falls.values())} falls in the labels")
    key = defaultdict(dict)  # (kind, n) -> {(fault, seed, method): row}
    for r in rows:
        key[(r["kind"], r["n"])][(json.dumps(r["task"], sort_keys=True), r["seed"], r["method"])] = r
    print("| post-fault data | N | method | AUC | warned in time | false alarms | MESA - it (AUC, paired, +- s.e.) |")
    print("|---|---|---|---|---|---|---|")
    for (kind, n), cell in sorted(key.items(), key=lambda kv: (kv[0][0] != "none", kv[0][0], kv[0][1])):
        for method in ("mesa", "multitask", "rrl"):
            mine = {k[:2]: v for k, v in cell.items() if k[2] == method}
            if not mine:
                continue
            mean = {f: np.mean([v[f] for v in mine.values()]) for f in ("auc", "warn_positive", "warn_negative")}
            diff = ""
            if method != "mesa":
                d = np.array([cell[(*k, "mesa")]["auc"] - v["auc"] for k, v in mine.items() if (*k, "mesa") in cell])
                se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
                diff = f"{d.mean():+.3f} +- {se:.3f} ({len(d)})"
            print(f"| {kind} | {n} | {method} | {mean['auc']:.3f} | {mean['warn_positive']:.0%} | "
                  f"{mean['warn_negative']:.2%} | {diff} |")


if __name__ == "__main__":
    main(sys.argv[1:])
