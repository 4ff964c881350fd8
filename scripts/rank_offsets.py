"""Can a learned model rank candidates with a *sustained* effect better than one-step perturbations? (issue #12)

The lookahead's candidates perturb one action (``lookahead.perturbed_steps`` 1); whether that makes a fall within
0.75 s is chaotic and no model ranks it (``scripts/rank_candidates.py``: AUC within one state ~0.62). Here, at the
states of a labelled set (``scripts/candidate_check.py --save``), candidates are the *policy plus a constant
offset* b ~ N(0, sigma^2) held for the first ``--hold`` steps (row 0: b = 0, the policy itself), then the policy:

    a_t = clip(pi(s_t) + b 1[t < hold]),  t = 0 .. H-1

Each is played in the true simulator (under ``--task``; its outcome: falls within H) and in the lookahead model
(share of particles that fall); printed: the ranking figures of ``rank_candidates.py`` for this family.

    python scripts/rank_offsets.py docs/results/lookahead/bthigh_searched_states.npz \\
        runs/la/fold_bthigh_adapted_100_s250.safetensors --task '{"power_scale": {"bthigh": 0}}' --hold 15
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from lookahead_bound import set_from_observation

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.calibration import auc
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.core.restore import resolve_config


def model_falls(shield, obs: np.ndarray, offsets: np.ndarray, hold: int) -> np.ndarray:
    """Share of particles that fall within the horizon for each offset (K, A) held ``hold`` steps: (K,)."""
    k, P, H = len(offsets), shield.cfg.particles, shield.cfg.horizon
    s = np.repeat(np.asarray(obs, np.float32)[None], k * P, 0)
    b = np.repeat(np.asarray(offsets, np.float32), P, 0)
    noise = shield.rng.standard_normal((H, k * P, shield.model.obs_dim), dtype=np.float32)
    fell = np.zeros(k * P, bool)
    for t in range(H):
        a = shield.policy(s).astype(np.float32, copy=False)
        if t < hold:
            a = np.clip(a + b, shield.low, shield.high)
        s, p = shield.model.step(s, a, noise[t])
        fell |= p > 0.5
    return fell.reshape(k, P).mean(1)


def true_steps(robot, policy, obs: np.ndarray, offset: np.ndarray, hold: int, horizon: int,
               low: np.ndarray, high: np.ndarray) -> int:
    """Steps to the first violation in the simulator (``horizon``: none)."""
    set_from_observation(robot, obs)
    o = obs
    for t in range(horizon):
        a = policy(o)
        if t < hold:
            a = np.clip(a + offset, low, high)
        o, _, _, _, info = robot.step(a)
        if info["c"]:
            return t
    return horizon


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labelled")
    p.add_argument("checkpoint")
    p.add_argument("--task", required=True, help="the fault the simulator plays, as JSON")
    p.add_argument("--hold", type=int, default=15, help="steps the offset is held")
    p.add_argument("--sigma", type=float, default=0.3, help="std of the offsets")
    p.add_argument("--states", type=int, default=0, help="the first N states of the set (0: all)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    data = np.load(args.labelled)
    ckpt = checkpoint.load(args.checkpoint, numpy=True)
    cfg = resolve_config(ckpt.env, overrides=args.set, stored=ckpt.config)
    shield = frozen_lookahead(ckpt, args.checkpoint, cfg.lookahead, seed=cfg.seed)
    H, K = cfg.lookahead.horizon, cfg.lookahead.candidates
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    env.reset(seed=0, options={"task": json.loads(args.task)})
    robot, rng = env.unwrapped, np.random.default_rng(0)
    policy = lambda o: shield.policy(np.asarray(o, np.float32)[None])[0]  # noqa: E731
    states = data["obs"][:args.states or None]
    risks, truth = [], []
    for obs in states:
        A = shield.model.act_dim
        offsets = np.concatenate([np.zeros((1, A)), rng.normal(0, args.sigma, (K, A))])
        risks.append(model_falls(shield, obs, offsets, args.hold))
        truth.append([true_steps(robot, policy, obs, b, args.hold, H, shield.low, shield.high) < H for b in offsets])
    r, truth = np.stack(risks), np.array(truth)
    both = [i for i, f in enumerate(truth) if 0 < f.sum() < len(f)]
    within = np.mean([auc(r[i][truth[i]], r[i][~truth[i]]) for i in both]) if both else float("nan")
    pick = np.array([np.lexsort([np.arange(len(ri)), ri])[0] for ri in r])
    picked = truth[np.arange(len(truth)), pick]
    print(f"hold {args.hold}, sigma {args.sigma}, {len(states)} states ({len(both)} with both kinds): a_task truly "
          f"falls {truth[:, 0].mean():.1%}, some candidate safe {(~truth).any(1).mean():.1%}, candidates fall "
          f"{truth[:, 1:].mean():.1%}; AUC pooled {auc(r[truth], r[~truth]):.3f}, within {within:.3f}; picked truly "
          f"falls {picked.mean():.1%}; overridden (pick != a_task) {(pick != 0).mean():.1%}")


if __name__ == "__main__":
    main()
