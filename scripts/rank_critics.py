"""Score critics' ranking of near-task actions on a labelled set of searched states (issue #12, diagnosis).

The set (``scripts/candidate_check.py --save``; session 16's is docs/results/lookahead/bthigh_searched_states.npz)
holds states where the lookahead searched, the first actions of its candidates (row 0: a_task; the policy after
them) and each one's true steps to a fall in the simulator. A critic of the deployed policy estimates exactly that:
Q_risk(s, a), the policy after a. Prints per checkpoint the AUC of truly falling against not (pooled: which states
are dangerous; within one state: which action helps), how often the candidate of least Q_risk (ties to the closest
to a_task) truly falls against a_task, and the mean Q_risk of a_task where it truly falls and where not.

    python scripts/rank_critics.py runs/multi_pf3_bthigh/mesa_bthigh.safetensors runs/multi_bthigh/mesa.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mesa_ros.core import checkpoint
from mesa_ros.core.calibration import auc
from mesa_ros.core.checkpoint import safety_modules
from mesa_ros.core.inference import FrozenCritic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoints with a critic (meta-trained or adapted)")
    p.add_argument("--labelled", default=str(Path(__file__).resolve().parents[1] / "docs/results/lookahead"
                                             / "bthigh_searched_states.npz"))
    args = p.parse_args()
    data = np.load(args.labelled)
    truth = data["steps"] < int(data["horizon"])
    both = [i for i, f in enumerate(truth) if 0 < f.sum() < len(f)]
    dist = np.linalg.norm(data["first"] - data["first"][:, :1], axis=2)
    for path in args.checkpoints:
        ckpt = checkpoint.load(path, numpy=True)
        q = FrozenCritic(safety_modules(ckpt, path)[0], ckpt.obs_dim, ckpt.act_dim)
        r = np.array([[q(o.astype(np.float32), a) for a in first] for o, first in zip(data["obs"], data["first"])])
        within = np.mean([auc(r[i][truth[i]], r[i][~truth[i]]) for i in both])
        pick = np.array([np.lexsort([d, ri])[0] for d, ri in zip(dist, r)])
        picked = truth[np.arange(len(truth)), pick]
        print(f"{path}: AUC pooled {auc(r[truth], r[~truth]):.3f}, within a state {within:.3f}; least-risk pick truly "
              f"falls {picked.mean():.1%} (a_task {truth[:, 0].mean():.1%}); Q_risk of a_task where it truly falls "
              f"{r[truth[:, 0], 0].mean():.3f}, where not {r[~truth[:, 0], 0].mean():.3f}")


if __name__ == "__main__":
    main()
