"""Is there a fixed fallback behaviour that is safe where the lookahead warns? (issue #12, diagnosis)

On a labelled set of searched states (``scripts/candidate_check.py --save``), each fallback (no torque, the
policy's action scaled by 0.5, 0.8, 0.9 or 1.5, negated, a PD brake to the standing pose) is played for k steps
and the policy after, in the true simulator under ``--task``; prints how often it falls within the set's horizon,
against a_task (the set's labels).

    python scripts/fallback_check.py runs/rank/bthigh_300.npz --task '{"power_scale": {"bthigh": 0}}'
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from lookahead_bound import set_from_observation

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.inference import frozen_policy
from mesa_ros.paths import config_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labelled")
    p.add_argument("--task", required=True, help="the fault, as JSON")
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    data = np.load(args.labelled)
    H = int(data["horizon"])
    task_falls = data["steps"][:, 0] < H
    policy = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    env.reset(seed=0, options={"task": json.loads(args.task)})
    robot = env.unwrapped

    def falls(obs: np.ndarray, fallback, k: int) -> bool:
        set_from_observation(robot, obs)
        for t in range(H):
            obs, _, _, _, info = robot.step(fallback(obs) if t < k else policy(obs))
            if info["c"]:
                return True
        return False

    fallbacks = {"no torque": lambda o: np.zeros(robot.action_space.shape),
                 "a_task x 0.5": lambda o: 0.5 * policy(o),
                 "a_task x 0.8": lambda o: 0.8 * policy(o),
                 "a_task x 0.9": lambda o: 0.9 * policy(o),
                 "a_task x 1.5": lambda o: np.clip(1.5 * policy(o), -1, 1),
                 "-a_task": lambda o: -policy(o),
                 # brake: PD (in action units) of the joints to the standing pose (angles obs[2:8], rates obs[11:17])
                 "PD to stand": lambda o: np.clip(-2.0 * o[2:8] - 0.1 * o[11:17], -1, 1)}
    print(f"{len(task_falls)} states; a_task (the policy throughout) falls within {H} steps in {task_falls.mean():.1%}")
    for name, fallback in fallbacks.items():
        for k in (1, 3, 5, H):
            f = np.array([falls(o, fallback, k) for o in data["obs"]])
            print(f"{name:13s} for {k:2d} steps: falls {f.mean():.1%} (where a_task falls {f[task_falls].mean():.1%}, "
                  f"where it does not {f[~task_falls].mean():.1%})")


if __name__ == "__main__":
    main()
