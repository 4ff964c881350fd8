"""Where does a lookahead-shielded episode still fall: no warning (the model) or no escape (the search)?

Runs ``--episodes`` episodes exactly as ``mesa-ros lookahead evaluate --modes shield`` does (the same evaluation
loop and seed; the shield is called unchanged, only its search is recorded) and records, at every step, the risk
of a_task and, on the steps where the shield searched, the picked candidate's risk, how many candidates share the
least risk and whether the pick overrode a_task. For each episode that ends in a fall the last ``--tail`` steps
are printed, and a summary counts the falls without any warning in their last ``--tail`` steps, with a warning
but the search's pick no safer than the threshold ("no escape predicted"), and with a predicted escape that failed.
Meant for *training* faults (validation folds).

    python scripts/lookahead_trace.py runs/la/fold_bthigh_adapted.safetensors --task '{"power_scale": {"bthigh": 0}}' \
        --episodes 100 --seed 1 --set lookahead.horizon=15
"""
from __future__ import annotations

import argparse

import numpy as np

from mesa_ros.core import checkpoint, online
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.restore import resolve_config
from mesa_ros.core.shield_rule import ShieldDecision
from mesa_ros.core.tasks import parse_task

Row = tuple[float, float, int, bool]  # risk of a_task, the picked candidate's risk (NaN: no search), ties, override


class TracedLookahead:
    """The shield itself, called unchanged (the same random draws), with its search recorded: one row per step."""

    def __init__(self, shield: ModelLookahead) -> None:
        self.shield, self.searched = shield, None
        self.rows: list[Row] = []
        search = shield.search

        def recorded(obs: np.ndarray, a_task: np.ndarray,
                     deadline: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
            self.searched = search(obs, a_task, deadline)
            return self.searched

        shield.search = recorded

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        self.searched = None
        decision = self.shield(obs, a_task)
        if self.searched is None:
            self.rows.append((decision.risk, float("nan"), 0, False))
        else:
            _, risks, pick = self.searched
            self.rows.append((decision.risk, float(risks[pick]), int(np.sum(risks == risks.min())), pick != 0))
        return decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--task", required=True, help="JSON task, e.g. a training fault")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tail", type=int, default=15)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    ckpt = checkpoint.load(args.checkpoint, numpy=True)
    cfg = resolve_config(ckpt.env, None, [*args.set, f"seed={args.seed}"], stored=ckpt.config)
    shield = TracedLookahead(frozen_lookahead(ckpt, args.checkpoint, cfg.lookahead, seed=cfg.seed))
    rows = online.evaluate_policy(cfg, parse_task(args.task), shield.shield.policy, shield, episodes=args.episodes,
                                  seed=cfg.seed)
    ends = np.cumsum([r["steps"] for r in rows])  # one shield call per step: the episodes' rows, in order
    traces = [shield.rows[end - r["steps"]:end] for r, end in zip(rows, ends)]
    eps = shield.shield.eps_risk
    kinds = {"no warning": 0, "no escape predicted": 0, "predicted escape failed": 0}
    for i, (row, trace) in enumerate(zip(rows, traces)):
        if not row["violation"]:
            continue
        tail = trace[-args.tail:]
        warned = [r for r in tail if r[0] > eps]
        escape = [r for r in warned if r[1] <= eps]
        kind = "no warning" if not warned else "predicted escape failed" if escape else "no escape predicted"
        kinds[kind] += 1
        print(f"episode {i + 1}: fell after {row['steps']} steps ({kind})")
        print("  risk(a_task): " + " ".join(f"{r[0]:.2f}" for r in tail))
        print("  picked cand.: " + " ".join("  -  " if np.isnan(r[1]) else f"{r[1]:.2f}" for r in tail))
        print("  override:     " + " ".join("  X  " if r[3] else "  .  " for r in tail))
    searched = [r for r in shield.rows if not np.isnan(r[1])]
    steps = len(shield.rows)
    falls = sum(bool(r["violation"]) for r in rows)
    print(f"{falls} falls in {len(rows)} episodes ({steps} steps); searched on {len(searched)} steps, "
          f"overrode on {sum(r[3] for r in searched)}; picked candidate's risk > eps on "
          f"{sum(r[1] > eps for r in searched)} of them, = 1.0 on {sum(r[1] >= 1.0 for r in searched)}")
    print("falls by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))


if __name__ == "__main__":
    main()
