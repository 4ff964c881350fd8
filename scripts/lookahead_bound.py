"""What any shield could do for the deployed gait under a held-out fault, with a perfect risk estimate (issue #12).

Not a product feature: the "critic" here is the true simulator. At every step the deployed (deterministic)
policy is rolled out ``--horizon`` steps ahead from the current state; if it falls within them, ``--candidates``
perturbed action sequences (the task action + N(0, 0.6^2), then ``--perturbed - 1`` more perturbed steps,
then the policy) are tried and the first action of the one that falls latest (or not at all) is executed.
The falls, the return per 1000 steps and the override rate bound what a learned Q_risk with the same lead
time and a search over near-task actions can reach. Episodes end at a fall (the paper's phase-3 rule).

    python scripts/lookahead_bound.py --fault fshin --horizon 15 --episodes 10
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.inference import frozen_policy
from mesa_ros.paths import config_file


def steps_to_fall(robot, policy: Callable[[np.ndarray], np.ndarray], first: Sequence[np.ndarray], obs: np.ndarray,
                  horizon: int) -> int:
    """Steps until a violation (``horizon`` if none) of the actions ``first`` then ``policy`` in the simulator
    ``robot`` (an unwrapped environment) from its current state, which is restored after."""
    qpos, qvel = robot.data.qpos.copy(), robot.data.qvel.copy()
    fall = horizon
    for k in range(horizon):
        obs, _, _, _, info = robot.step(first[k] if k < len(first) else policy(obs))
        if info["c"]:
            fall = k
            break
    robot.set_state(qpos, qvel)
    return fall


def set_from_observation(robot, obs: np.ndarray) -> None:
    """Put the simulator ``robot`` (an unwrapped HalfCheetah) in the state of observation ``obs`` (qpos without
    rootx, then qvel; rootx 0: the dynamics do not depend on it)."""
    nq = robot.model.nq
    robot.set_state(np.concatenate(([0.0], obs[:nq - 1])), obs[nq - 1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", default="fshin", help="the joint that loses all power")
    p.add_argument("--horizon", type=int, default=15, help="lookahead steps (0: no shield)")
    p.add_argument("--candidates", type=int, default=32)
    p.add_argument("--perturbed", type=int, default=5, help="perturbed steps at the start of each candidate")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    policy = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    robot, rng = env.unwrapped, np.random.default_rng(0)

    falls = steps = overrides = 0
    total, start = 0.0, time.time()
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=episode, options={"task": {"power_scale": {args.fault: 0.0}}})
        done = False
        while not done:
            action = policy(obs)
            if args.horizon and steps_to_fall(robot, policy, [], obs, args.horizon) < args.horizon:
                best, latest = action, -1
                for _ in range(args.candidates):
                    seq = [np.clip(policy(obs) + rng.normal(0, 0.6, action.shape), -1, 1)]
                    seq += [np.clip(rng.normal(0, 0.6, action.shape), -1, 1) for _ in range(args.perturbed - 1)]
                    fall = steps_to_fall(robot, policy, seq, obs, args.horizon)
                    if fall > latest:
                        best, latest = seq[0], fall
                    if fall >= args.horizon:
                        break
                action, overrides = best, overrides + 1
            obs, reward, terminated, truncated, info = env.step(action)
            steps, total, falls = steps + 1, total + reward, falls + bool(info["c"])
            done = terminated or truncated
    print(f"{args.fault} total loss, horizon {args.horizon}, {args.candidates} candidates: {falls} falls in "
          f"{args.episodes} episodes ({steps} steps, {falls / steps * 1000:.2f} per 1000), return per 1000 steps "
          f"{total / steps * 1000:.0f}, overrides {overrides / steps:.1%} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
