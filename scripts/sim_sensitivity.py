"""How exact must a model be to rank the lookahead's candidates? (issue #12, diagnosis)

On a labelled set of searched states (``scripts/candidate_check.py --save``), the *simulator* takes the learned
model's place, made slightly wrong: each candidate is played ``--particles`` times from the state with Gaussian
noise of ``--state-noise`` x the set's per-dimension std added, under ``--task`` (the fault as the simulator
believes it); the risk is the share that falls within the set's horizon. Prints the same ranking figures as
``scripts/rank_candidates.py``, so the learned model's AUC can be read against a model with a known error.

    python scripts/sim_sensitivity.py runs/rank/bthigh_300.npz --task '{"power_scale": {"bthigh": 0}}' \\
        --state-noise 0.01
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from lookahead_bound import set_from_observation, steps_to_fall

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.calibration import auc
from mesa_ros.core.inference import frozen_policy
from mesa_ros.paths import config_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labelled")
    p.add_argument("--task", required=True, help="the fault the simulator plays, as JSON")
    p.add_argument("--state-noise", type=float, default=0.0, help="start-state noise, in units of the set's std")
    p.add_argument("--particles", type=int, default=5)
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    data = np.load(args.labelled)
    H, truth, rng = int(data["horizon"]), data["steps"] < int(data["horizon"]), np.random.default_rng(0)
    policy = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    env.reset(seed=0, options={"task": json.loads(args.task)})
    robot, std = env.unwrapped, data["obs"].std(0)
    risks = []
    for obs, first in zip(data["obs"], data["first"]):
        r = np.zeros(len(first))
        for _ in range(args.particles):
            o = obs + args.state_noise * std * rng.standard_normal(len(obs))
            set_from_observation(robot, o)
            r += [steps_to_fall(robot, policy, [a], o, H) < H for a in first]
        risks.append(r / args.particles)
    r = np.stack(risks)
    both = [i for i, f in enumerate(truth) if 0 < f.sum() < len(f)]
    dist = np.linalg.norm(data["first"] - data["first"][:, :1], axis=2)
    pick = np.array([np.lexsort([d, ri])[0] for d, ri in zip(dist, r)])
    picked = truth[np.arange(len(truth)), pick]
    within = np.mean([auc(r[i][truth[i]], r[i][~truth[i]]) for i in both])
    print(f"{args.task}, state noise {args.state_noise} std, {args.particles} particles: AUC pooled "
          f"{auc(r[truth], r[~truth]):.3f}, within {within:.3f}; "
          f"picked truly falls {picked.mean():.1%} (a_task {truth[:, 0].mean():.1%}); risk of a_task > 0.2 in "
          f"{(r[:, 0] > 0.2).mean():.1%}")


if __name__ == "__main__":
    main()
