"""Score a lookahead model's ranking of candidates on a labelled set of searched states (issue #12, diagnosis).

The set (``scripts/candidate_check.py --save``) holds states where the shield searched, the first actions of its
candidates (row 0: a_task) and each one's true steps to a fall in the simulator (the policy after it). Here a
lookahead checkpoint predicts, for every candidate, its particles' first predicted falls within the horizon; the
risk estimates compared:

    falls       share of particles that fall (the shield's risk)
    early       mean over particles of (H - T_p) / H, T_p the first predicted fall (H: none): a later fall is less
                risky, and it ranks candidates the binary share ties
    soft        mean over particles of the largest catastrophe probability along the rollout

Prints, per estimate: the AUC of truly falling against not (pooled, and mean within one state), and how often the
candidate it picks (least risk, ties to the closest to a_task, as ``ModelLookahead.search``) truly falls, against
a_task.

    python scripts/rank_candidates.py runs/rank/bthigh_300.npz runs/la/fold_bthigh_adapted_100_s250.safetensors
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from mesa_ros.core import checkpoint
from mesa_ros.core.calibration import auc
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.core.restore import resolve_config


class Applied:
    """A model of the applied control (``scripts/actuated_model.py``): the command a scaled by the gains g."""

    def __init__(self, model, gain: np.ndarray) -> None:
        self.model, self.gain = model, np.asarray(gain, np.float32)
        self.members, self.obs_dim, self.act_dim = model.members, model.obs_dim, model.act_dim

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.step(s, a * self.gain, noise)


def rollouts(shield, obs: np.ndarray, first: np.ndarray, noise_scale: float = 1.0,
             common: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """First predicted fall step (H: none) and the largest catastrophe probability of every particle of each
    first action (K, A), the policy after: (K, P) each. ``noise_scale`` scales the model's sampled noise (0: each
    member's mean prediction); ``common``: every candidate meets the same P noise draws."""
    k, P, H = len(first), shield.cfg.particles, shield.cfg.horizon
    s = np.repeat(np.asarray(obs, np.float32)[None], k * P, 0)
    a = np.repeat(np.asarray(first, np.float32), P, 0)
    draws = shield.rng.standard_normal((H, P if common else k * P, shield.model.obs_dim), dtype=np.float32)
    noise = noise_scale * (np.tile(draws, (1, k, 1)) if common else draws)
    t_fall, p_max = np.full(k * P, H), np.zeros(k * P, np.float32)
    for t in range(H):
        if t:
            a = shield.policy(s).astype(np.float32, copy=False)
        s, p = shield.model.step(s, a, noise[t])
        p_max = np.maximum(p_max, p)
        t_fall = np.where((t_fall == H) & (p > 0.5), t, t_fall)
    return t_fall.reshape(k, P), p_max.reshape(k, P)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labelled")
    p.add_argument("checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--noise-scale", type=float, default=1.0, help="scale of the model's sampled noise (0: means)")
    p.add_argument("--common", action="store_true", help="common random numbers across candidates")
    p.add_argument("--gain", help="JSON list: a model of the applied control, g * a (scripts/actuated_model.py)")
    args = p.parse_args()
    data = np.load(args.labelled)
    ckpt = checkpoint.load(args.checkpoint, numpy=True)
    cfg = resolve_config(ckpt.env, overrides=args.set, stored=ckpt.config)
    shield = frozen_lookahead(ckpt, args.checkpoint, cfg.lookahead, seed=cfg.seed)
    if args.gain:
        shield.model = Applied(shield.model, json.loads(args.gain))
    H = int(data["horizon"])
    if cfg.lookahead.horizon != H:
        print(f"note: model horizon {cfg.lookahead.horizon}, labels within {H} steps")
    truth = data["steps"] < H
    scores: dict[str, list[np.ndarray]] = {"falls": [], "early": [], "soft": []}
    for obs, first in zip(data["obs"], data["first"]):
        t_fall, p_max = rollouts(shield, obs, first, args.noise_scale, args.common)
        h = shield.cfg.horizon
        scores["falls"].append((t_fall < h).mean(1))
        scores["early"].append(((h - t_fall) / h).mean(1))
        scores["soft"].append(p_max.mean(1))
    both = [i for i, f in enumerate(truth) if 0 < f.sum() < len(f)]
    print(f"{len(truth)} states ({len(both)} with candidates of both kinds); a_task truly falls in "
          f"{truth[:, 0].mean():.1%}, some candidate is truly safe in {(~truth).any(1).mean():.1%}")
    for name, per_state in scores.items():
        r = np.stack(per_state)
        within = np.mean([auc(r[i][truth[i]], r[i][~truth[i]]) for i in both])
        dist = np.linalg.norm(data["first"] - data["first"][:, :1], axis=2)
        pick = np.array([np.lexsort([d, ri])[0] for d, ri in zip(dist, r)])
        picked = truth[np.arange(len(truth)), pick]
        fired = r[:, 0] > shield.eps_risk
        print(f"{name:6s} AUC pooled {auc(r[truth], r[~truth]):.3f}, within {within:.3f}; picked truly falls "
              f"{picked.mean():.1%} (where a_task falls: {picked[truth[:, 0]].mean():.1%}, where not: "
              f"{picked[~truth[:, 0]].mean():.1%}); risk of a_task > eps_risk in {fired.mean():.1%}")


if __name__ == "__main__":
    main()
