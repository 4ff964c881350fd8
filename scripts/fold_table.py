"""A fold's falls and return per shield variant, from the log of scripts/armed_sooner_fold.sh or
warning_governor_fold.sh (issue #12).

Each ``== FAULT: VARIANT`` line is followed by derate_check.py's result line (blocks of the same fault and variant,
e.g. of several seeds, are pooled); the table has one row per variant: falls per fault, their sum (and against no
shield's), falls per 1000 steps over all of the faults' steps (episodes end at a fall, so a shield that keeps the
robot up runs more steps; against no shield's), the lowest share of no shield's return per 1000 steps over the
faults, and the mean c per fault.

    python scripts/fold_table.py runs/armed_bthigh.log
"""
from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

RESULT = re.compile(r"(\d+) falls in (\d+) episodes(?: \((\d+) steps\))?, ([\d.]+) per 1000 steps, return per 1000 "
                    r"steps (-?\d+)(?:.*?mean c ([\d.]+))?")


def parse(path: str) -> dict[str, dict[str, tuple[int, float, float, float]]]:
    """variant -> fault -> (falls, return per 1000 steps, mean c, steps), pooled over repeated blocks (seeds)."""
    sums: dict[str, dict[str, np.ndarray]] = defaultdict(dict)  # falls, steps, return, c x steps
    head = None
    with open(path) as f:
        for line in f:
            if line.startswith("== "):
                head = line[3:].strip().split(": ", 1)
            elif head and (m := RESULT.search(line)):
                falls, episodes, per_k = int(m[1]), int(m[2]), float(m[4])
                # logs before the step count was printed: from the rounded rate, or, with no fall, 1000 steps per
                # episode (episodes end at a fall or after 1000 steps)
                steps = float(m[3]) if m[3] else 1000 * falls / per_k if falls else 1000.0 * episodes
                row = np.array([falls, steps, float(m[5]) * steps / 1000, float(m[6] or 1.0) * steps])
                fault, variant = head
                sums[variant][fault] = sums[variant].get(fault, 0) + row
                head = None
    return {v: {f: (int(t[0]), 1000 * t[2] / t[1], t[3] / t[1], t[1]) for f, t in per.items()}
            for v, per in sums.items()}


def rate(per: dict[str, tuple[int, float, float, float]]) -> float:
    """Falls per 1000 steps over all of the faults' steps."""
    return 1000 * sum(v[0] for v in per.values()) / sum(v[3] for v in per.values())


def change(value: float, reference: float) -> str:
    return f"{value / reference - 1:+.0%}" if reference else "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    args = p.parse_args()
    rows = parse(args.log)
    if "no shield" not in rows:
        p.error(f"{args.log} has no run without a shield ('== FAULT: no shield'): tabulate it with the log that has")
    base = rows.pop("no shield")
    faults = list(base)
    none = sum(base[f][0] for f in faults)
    none_rate = rate(base)
    print("| variant | " + " | ".join(faults) + " | sum | per 1000 steps | lowest return share | mean c per fault |")
    print("|---" * (len(faults) + 5) + "|")
    print("| no shield | " + " | ".join(str(base[f][0]) for f in faults) + f" | {none} | {none_rate:.3f} | 100% | 1 |")
    for variant, per in rows.items():
        if set(per) != set(faults):
            continue  # an unfinished variant
        falls = sum(per[f][0] for f in faults)
        share = min((per[f][1] / base[f][1] for f in faults if base[f][1] > 0), default=float("nan"))
        print(f"| {variant} | " + " | ".join(str(per[f][0]) for f in faults)
              + f" | {falls} ({change(falls, none)}) | {rate(per):.3f} ({change(rate(per), none_rate)}) | "
              + f"{share:.0%} | "
              + "/".join(f"{per[f][2]:.2f}" for f in faults) + " |")


if __name__ == "__main__":
    main()
