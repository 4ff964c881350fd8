"""Environment step rate: HalfCheetah-Disabled vs. raw ``mujoco.mj_step`` on the same model, same run.

One environment step = ``frame_skip`` (5) physics steps, so the raw baseline is
``mj_step(model, data, nstep=5)`` with the same control. Target: the env costs at most 2x the raw step.

    .venv/bin/python bench/bench_env.py [--steps 20000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import mujoco
import numpy as np

import mesa_ros.envs  # noqa: F401
from mesa_ros.envs.half_cheetah import HalfCheetahDisabledEnv

from results_file import save


def rate(step, actions: np.ndarray, reset) -> float:
    reset()
    start = time.perf_counter()
    for a in actions:
        step(a)
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_start = os.getloadavg()
    actions = np.random.default_rng(0).uniform(-1, 1, size=(args.steps, 6))

    wrapped = gym.make("mesa_ros/HalfCheetahDisabled-v0", terminate_on_violation=False,
                       max_episode_steps=args.steps + 1)
    bare = HalfCheetahDisabledEnv(terminate_on_violation=False)
    bare.set_power_scale("ffoot", 0.0)
    wrapped.unwrapped.set_power_scale("ffoot", 0.0)
    model, data = bare.model, mujoco.MjData(bare.model)
    scale = bare.power_scale

    def raw_step(a: np.ndarray) -> None:
        data.ctrl[:] = a * scale
        mujoco.mj_step(model, data, nstep=5)

    runs = {"raw mj_step x5": [], "env (unwrapped)": [], "env (gym.make)": []}
    for _ in range(args.repeats):  # interleaved so that machine load affects all three alike
        runs["raw mj_step x5"].append(rate(raw_step, actions, lambda: mujoco.mj_resetData(model, data)))
        runs["env (unwrapped)"].append(rate(bare.step, actions, lambda: bare.reset(seed=0)))
        runs["env (gym.make)"].append(rate(wrapped.step, actions, lambda: wrapped.reset(seed=0)))
    best = {k: max(v) for k, v in runs.items()}
    raw = best["raw mj_step x5"]
    print(f"HalfCheetah-Disabled, {args.steps} steps x {args.repeats} repeats (best), 1 thread")
    for name, steps_per_s in best.items():
        print(f"  {name:<18} {steps_per_s:10.0f} steps/s   cost vs raw {raw / steps_per_s:5.2f}x")
    ratio = raw / best["env (gym.make)"]
    print(f"env (gym.make) costs {ratio:.2f}x the raw step (target <= 2x): {'met' if ratio <= 2 else 'MISSED'}")
    save("env_step", load_start, {
        "steps": args.steps, "repeats": args.repeats, "steps_per_s_best": best, "steps_per_s_all": runs,
        "cost_ratio_gym_make_vs_raw": ratio, "target_ratio": 2.0,
    })


if __name__ == "__main__":
    main()
