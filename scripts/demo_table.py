"""Per shield, over the runs of one or more ``mesa-ros demo`` summaries: violations with the shield and without it
over the same sim steps (per seed and summed), the return against no shield's, overrides, the mean action scale c
and the time to safe at the control rate (issue #12).

    python scripts/demo_table.py runs/demo_s22_critics012/summary.json runs/demo_s22_mesa3to8/summary.json
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("summaries", nargs="+")
    runs: dict[str, list[dict]] = defaultdict(list)
    for path in p.parse_args().summaries:
        with open(path) as f:
            for run in json.load(f)["runs"]:
                runs[run["shield"]].append(run)
    print("| shield | seeds | with the shield | without, same steps | return vs without | overrides | mean c | "
          "time to safe at 20 Hz | adapted weights at |")
    print("|---" * 9 + "|")
    for shield, rs in runs.items():
        rs.sort(key=lambda r: r["seed"])
        with_ = [r["shield_on"]["violations"] for r in rs]
        without = [r["no_shield"]["violations"] for r in rs]
        ret = [r["shield_on"]["return_per_1000_steps"] / r["no_shield"]["return_per_1000_steps"] for r in rs]
        safe = []  # runs whose adaptation node logged its time to safe
        for r in rs:
            if (t := r["time_to_safe"]) is None:
                continue
            if t.get("armed_at_fault") and r.get("fault_at_s") is not None:  # from the fault to the shield's first
                t = {**t, "robot_s": r["shield_on_s"] - r["fault_at_s"]}  # decision (older summaries: 0)
            safe.append(t)
        span = lambda xs, f: f"{f(min(xs))}-{f(max(xs))}" if xs else "n/a"  # noqa: E731
        print(f"| {shield} | {','.join(str(r['seed']) for r in rs)} | {'+'.join(map(str, with_))} = {sum(with_)} | "
              f"{'+'.join(map(str, without))} = {sum(without)} ({sum(with_) / max(1, sum(without)) - 1:+.0%}) | "
              f"{sum(ret) / len(ret):.1%} ({span(ret, lambda x: f'{x:.0%}')}) | "
              f"{span([r['override_rate'] for r in rs], lambda x: f'{x:.1%}')} | "
              f"{span([r['action_scale'] for r in rs], lambda x: f'{x:.2f}')} | "
              f"{span([s['robot_s'] for s in safe], lambda x: f'{x:.2f} s')} | "
              f"{span([s.get('adapted_robot_s', s['robot_s']) for s in safe], lambda x: f'{x:.1f} s')} |")


if __name__ == "__main__":
    main()
