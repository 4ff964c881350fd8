"""Does pi_rec keep the robot out of violations, in the simulator? Measured on *training* tasks only.

For each training dataset of an experiment directory (its fault or dynamics), up to ``--starts``
states that are 1-10 (``--distance``) steps before a violation in the data; the simulator is put in
each state (qpos without the root x, qvel: the observation) under that task's fault, and a controller
acts for ``--horizon`` steps. Printed: the share of starts that reach a violation, for pi_rec of every
offline checkpoint (deterministic), the action its critic ranks safest (and least safe) of 64 random
ones at each step, a uniform random action, and the zero action. In the data every
start reached one within HIGH steps.

    python scripts/recovery_rollouts.py runs/halfcheetah-disabled [--starts 100] [--horizon 20]
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from mesa_ros import envs
from mesa_ros.core.calibration import steps_to_violation
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.restore import load_checkpoint

Controller = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def by_critic(critic, pick: str, obs: np.ndarray, rng: np.random.Generator, n: int = 64) -> np.ndarray:
    """Of ``n`` uniform random actions (in [-1, 1]: the robots' box), the one of lowest (argmin) or highest
    (argmax) Q_risk: how much the critic's ranking of actions is worth in the simulator."""
    actions = rng.uniform(-1.0, 1.0, (n, critic.q_risk.act_dim)).astype(np.float32)
    with torch.no_grad():
        q = critic(torch.as_tensor(obs, dtype=torch.float32).expand(n, -1), torch.as_tensor(actions)).numpy()
    return actions[getattr(q, pick)()]


def restore(sim, obs: np.ndarray) -> None:
    """Put the simulator in the state an observation shows: MuJoCo robots (qpos without root x, qvel),
    Navigation (the position)."""
    if hasattr(sim, "model"):
        nq = sim.model.nq
        sim.set_state(np.concatenate(([0.0], obs[:nq - 1])), obs[nq - 1:])
    else:
        sim.set_state(obs)


def violation_share(env, starts: np.ndarray, controller: Controller, horizon: int, seed: int) -> float:
    sim, rng, hits = env.unwrapped, np.random.default_rng(seed), 0
    env.reset(seed=seed)
    for s in starts:
        restore(sim, s)
        obs = s
        for _ in range(horizon):
            obs, _, _, _, info = env.step(controller(obs, rng))
            if info["c"]:
                hits += 1
                break
    return hits / len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir", type=Path)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--distance", type=int, nargs=2, default=(1, 10), metavar=("LOW", "HIGH"),
                        help="starts LOW-HIGH steps before a violation in the data")
    parser.add_argument("--phase2", action="store_true", help="also the layers after phase 2 (checkpoints/*.phase2)")
    parser.add_argument("--tasks", type=int, default=0, help="only the first N training datasets (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = sorted((args.experiment_dir / "offline").glob("*.safetensors"))
    if args.phase2:
        paths += sorted((args.experiment_dir / "checkpoints").glob("*.phase2.safetensors"))
    layers = {f"{p.parent.name}/{p.name.removesuffix('.safetensors')}": load_checkpoint(p).safety for p in paths}
    controllers: dict[str, Controller] = {}
    for name, layer in layers.items():
        if layer is None:
            continue
        controllers[f"pi_rec {name}"] = lambda o, rng, layer=layer: layer.recovery.act(
            torch.as_tensor(o, dtype=torch.float32)[None], noise=False)[0].numpy()
        for pick in ("argmin", "argmax"):
            controllers[f"critic {pick} of 64 random actions, {name}"] = partial(by_critic, layer.critic, pick)
    for path in sorted((args.experiment_dir / "data").glob("train_*.safetensors"))[:args.tasks or None]:
        data = TransitionDataset.load(path)
        task = (
            {"task": data.metadata.task}
            if data.metadata.env.startswith("Navigation")
            else {"fault": data.metadata.task}
        )
        env = envs.make(data.metadata.env, **task, terminate_on_violation=False)
        low, high = env.action_space.low, env.action_space.high
        dist = steps_to_violation(data.c, data.episode)
        pool = np.flatnonzero((dist >= args.distance[0]) & (dist <= args.distance[1]))
        starts = data.s[np.random.default_rng(0).choice(pool, min(args.starts, len(pool)), replace=False)]
        rows = {**controllers, "random action": lambda o, rng: rng.uniform(low, high),
                "zero action": lambda o, rng: np.zeros_like(low)}
        print(
            f"{path.stem} task {data.metadata.task}: {len(starts)} starts "
            f"{args.distance[0]}-{args.distance[1]} steps before a violation"
        )
        for name, controller in rows.items():
            print(f"  {name}: {violation_share(env, starts, controller, args.horizon, seed=1):.2f} reach a violation "
                  f"within {args.horizon} steps")


if __name__ == "__main__":
    main()
