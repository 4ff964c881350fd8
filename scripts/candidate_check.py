"""How well does the adapted model rank the lookahead's candidates where it searches? (issue #12, diagnosis)

Runs the lookahead shield (as ``mesa-ros lookahead evaluate``: deterministic policy, the model's decisions executed)
and, at every step where it searches, plays each of its candidates in the *true* simulator from the same state (the
candidate's first action, then the policy, ``horizon`` steps; ``lookahead_bound.steps_to_fall``) to see
whether it really falls. Prints, over all searched states: the model's risk of candidates that truly fall against
those that do not (and the AUC of that ranking, pooled and within one state), how often the picked candidate truly
falls, and how often some candidate would not have. ``--save`` keeps the searched states, their candidates'
first actions and true steps to a fall (``horizon``: none), for ``scripts/rank_candidates.py`` to score other
models and risk estimates on the same labelled set.

    python scripts/candidate_check.py runs/la/fold_bthigh_adapted_100_s250.safetensors \\
        --task '{"power_scale": {"bthigh": 0}}' --episodes 60 --set lookahead.horizon=15
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from lookahead_bound import steps_to_fall  # scripts/: the true simulator's rollout

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.calibration import auc
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.core.restore import resolve_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--task", required=True)
    p.add_argument("--episodes", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--save", help="an .npz file for the labelled searched states")
    args = p.parse_args()
    ckpt = checkpoint.load(args.checkpoint, numpy=True)
    cfg = resolve_config(ckpt.env, overrides=args.set, stored=ckpt.config)
    shield = frozen_lookahead(ckpt, args.checkpoint, cfg.lookahead, seed=cfg.seed)
    H = cfg.lookahead.horizon
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    robot = env.unwrapped

    def true_steps(first: np.ndarray, obs: np.ndarray) -> int:
        return steps_to_fall(robot, lambda o: shield.policy(o[None])[0], [first], obs, H)

    risks, episode_falls = [], 0
    saved: dict[str, list] = {"obs": [], "first": [], "steps": [], "pick": []}
    obs, _ = env.reset(seed=args.seed, options={"task": json.loads(args.task)})
    for _ in range(args.episodes):
        done = False
        while not done:
            a_task = shield.policy(np.asarray(obs, np.float32)[None])[0]
            action = a_task
            if shield.risk_of(obs, a_task) > shield.eps_risk:
                cand, r, pick = shield.search(obs, a_task)
                steps = np.array([true_steps(c[0], obs) for c in cand])
                for key, value in zip(saved, (obs, cand[:, 0], steps, pick)):
                    saved[key].append(value)
                risks.append(r)
                action = cand[pick, 0]
            obs, _, terminated, truncated, info = env.step(action)
            episode_falls += bool(info["c"])
            done = terminated or truncated
        obs, _ = env.reset()
    print(f"{args.episodes} episodes, {episode_falls} falls, {len(risks)} searched states")
    if not risks:
        return
    if args.save:
        np.savez(args.save, horizon=H, **{k: np.asarray(v) for k, v in saved.items()})
    risks, falls = np.stack(risks), np.stack(saved["steps"]) < H  # (states, candidates), a_task first
    r, f = risks.ravel(), falls.ravel()
    print(f"candidates that truly fall: {f.mean():.1%}; model risk of those {r[f].mean():.3f}, of the others "
          f"{r[~f].mean():.3f}; AUC {auc(r[f], r[~f]):.3f}")
    picked = falls[np.arange(len(falls)), saved["pick"]]
    print(f"picked candidate truly falls within {H} steps: {picked.mean():.1%} of searched states; a truly "
          f"safe candidate existed in {(~falls).any(1).mean():.1%}; a_task truly falls in {falls[:, 0].mean():.1%}")
    within = [auc(ri[fi], ri[~fi]) for ri, fi in zip(risks, falls) if 0 < fi.sum() < len(fi)]
    print(f"within one state (the {len(within)} states with candidates of both kinds): mean AUC "
          f"{np.mean(within) if within else float('nan'):.3f}")

if __name__ == "__main__":
    main()
