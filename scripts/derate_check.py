"""The deployed gait slowed down: the policy's actions scaled by c after a fault (issue #12, diagnosis).

A joint's power loss leaves the deployed gait marginal; does a slightly less forceful gait, a_exec = c * pi(s),
fall less? Runs the deterministic policy with each scale c for ``--episodes`` episodes under ``--task`` (episodes
end at a fall, as in ``mesa-ros evaluate``) and prints falls, falls and return per 1000 steps, and the return
against c = 1 over the same episodes' seeds.

    python scripts/derate_check.py --task '{"power_scale": {"bthigh": 0}}' --scales 1,0.95,0.9 --episodes 300
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.inference import frozen_policy
from mesa_ros.paths import config_file


def run(env, policy, scale: float, task: dict, episodes: int, seed: int) -> tuple[int, int, float]:
    """Falls, steps and return of ``episodes`` episodes of ``scale * policy``."""
    falls = steps = 0
    ret = 0.0
    obs, _ = env.reset(seed=seed, options={"task": task})
    for _ in range(episodes):
        done = False
        while not done:
            obs, r, terminated, truncated, info = env.step(scale * policy(obs))
            ret, steps, falls = ret + r, steps + 1, falls + bool(info["c"])
            done = terminated or truncated
        obs, _ = env.reset()
    return falls, steps, ret


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="the fault, as JSON ('{}': healthy)")
    p.add_argument("--scales", default="1,0.95,0.9,0.85,0.8")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    policy = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    base = None
    for scale in (float(c) for c in args.scales.split(",")):
        falls, steps, ret = run(env, lambda o: policy(np.asarray(o, np.float32)), scale, json.loads(args.task),
                                args.episodes, args.seed)
        per_k = 1000 * ret / steps
        base = per_k if base is None else base
        print(f"{args.task} c={scale}: {falls} falls in {args.episodes} episodes, {1000 * falls / steps:.3f} per "
              f"1000 steps, return per 1000 steps {per_k:.0f} ({per_k / base:.0%} of the first scale's)", flush=True)


if __name__ == "__main__":
    main()
