"""Evaluate a critic checkpoint's shield with the lookahead's override in place of pi_rec (prototype, issue #12).

The eps rule on Q_risk(s, a_task) as the product's critic shield; when it fires, the executed action is the one of
least Q_risk among a_task and K perturbations a_task + N(0, sigma^2) (clipped), ties to the closest to a_task: the
model-lookahead shield's search, with the critic as the risk. Episodes as ``mesa-ros evaluate`` (deterministic
task policy, the same ``env.reset(seed)``), so the counts compare with its rows.

    python scripts/critic_near_task_eval.py runs/imagined/bthigh_mesa_100.safetensors \\
        --task '{"power_scale": {"bthigh": 0}}' --episodes 300 --seed 1
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mesa_ros.core.online import evaluate_policy
from mesa_ros.core.restore import load_checkpoint
from mesa_ros.core.shield_rule import ShieldDecision


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--task", required=True)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--candidates", type=int, default=32)
    p.add_argument("--sigma", type=float, default=0.6)
    p.add_argument("--eps-risk", type=float, default=None, help="default: the checkpoint's")
    args = p.parse_args()
    torch.set_num_threads(1)
    run = load_checkpoint(args.checkpoint)
    critic, agent = run.safety.critic, run.agent
    eps = run.cfg.shield.eps_risk if args.eps_risk is None else args.eps_risk
    low, high = run.space[1].low.astype(np.float32), run.space[1].high.astype(np.float32)
    rng = np.random.default_rng(args.seed)

    @torch.inference_mode()
    def guard(obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32))[None]
        a_task = np.asarray(a_task, dtype=np.float32)
        risk = float(critic(o, torch.as_tensor(a_task)[None]))
        if risk <= eps:
            return ShieldDecision(a_task, False, risk)
        noise = rng.normal(0.0, args.sigma, (args.candidates, len(a_task))).astype(np.float32)
        cand = np.concatenate([a_task[None], np.clip(a_task + noise, low, high)])
        q = critic(o.expand(len(cand), -1), torch.as_tensor(cand)).reshape(-1).numpy()
        pick = int(np.lexsort([np.linalg.norm(cand - a_task, axis=1), q])[0])
        return ShieldDecision(cand[pick], pick != 0, risk)

    torch.manual_seed(args.seed)
    rows = evaluate_policy(run.cfg, json.loads(args.task), lambda obs: agent.act(obs, deterministic=True), guard,
                           episodes=args.episodes, seed=args.seed)
    steps = sum(r["steps"] for r in rows)
    falls = sum(bool(r["violation"]) for r in rows)
    overrides = sum(r["override_rate"] * r["steps"] for r in rows)
    total = sum(r["return"] for r in rows)
    print(f"near-task override: {falls} violations in {len(rows)} episodes ({steps} steps, {falls / steps * 1000:.2f}"
          f" per 1000), return per 1000 steps {total / steps * 1000:.0f}, overrides {overrides / steps:.1%}")


if __name__ == "__main__":
    main()
