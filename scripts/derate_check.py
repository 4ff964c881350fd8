"""The deployed gait slowed down after a fault: actions scaled by c, always or while a shield warns (issue #12).

A joint's power loss leaves the deployed gait marginal; does a slightly less forceful gait, a_exec = c * pi(s),
fall less? Without ``--checkpoint`` every step is scaled. With a shield checkpoint (the lookahead model or a
critic, adapted to the fault) the scale is a recovery that is *latched*: when the shield's risk of a_task exceeds
its eps_risk, the next ``--hold`` steps are scaled (a warning inside the hold restarts it), else a_task runs:

    a_exec = c * pi(s_t)  if risk(s_k, pi(s_k)) > eps_risk for some k in (t - hold, t],  pi(s_t) otherwise

``--random-rate p`` latches at random with probability p per step instead (the ablation: is it the warning's
timing, or only the share of scaled steps?). ``--governor BUDGET`` (a lookahead checkpoint) regulates c itself: the
shield runs as shipped on the scaled policy (its model rolls c * pi), and after every ``--window`` steps c steps
down by 0.05 (to at least 0.5) when the window's mean risk of the executed action exceeded BUDGET, and up by 0.05
(to at most 1) when it stayed under BUDGET / 2; c is kept across episodes (one robot, one fault).
``--measure-risk`` (a lookahead checkpoint): each scale runs unshielded and the model's risk of its actions is
recorded (warnings, mean risk). The deterministic policy runs ``--episodes`` episodes under ``--task`` (episodes
end at a fall, as in ``mesa-ros evaluate``); printed: falls, falls and return per 1000 steps, the return against
the first scale of the same invocation, the share of scaled steps.

    python scripts/derate_check.py --task '{"power_scale": {"bthigh": 0}}' --scales 1,0.95,0.9 --episodes 300
    python scripts/derate_check.py --task '{"power_scale": {"bthigh": 0}}' --scales 0.9 --hold 20 \\
        --checkpoint runs/la/fold_bthigh_adapted_100_s250.safetensors --set lookahead.horizon=15
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.inference import frozen_guard, frozen_policy
from mesa_ros.core.restore import resolve_config
from mesa_ros.paths import config_file


def run(env, policy, scale: float, task: dict, episodes: int, seed: int, warns=None,
        hold: int = 0) -> tuple[int, int, float, int]:
    """Falls, steps, return and scaled steps of ``episodes`` episodes; ``warns(obs, a_task)`` (None: always)
    latches the scale for ``hold`` steps."""
    falls = steps = scaled = 0
    ret = 0.0
    obs, _ = env.reset(seed=seed, options={"task": task})
    for _ in range(episodes):
        done, latch = False, 0
        while not done:
            a_task = policy(obs)
            latch = hold if warns is not None and warns(obs, a_task) else latch - 1
            on = warns is None or latch > 0
            obs, r, terminated, truncated, info = env.step(scale * a_task if on else a_task)
            ret, steps, falls, scaled = ret + r, steps + 1, falls + bool(info["c"]), scaled + on
            done = terminated or truncated
        obs, _ = env.reset()
    return falls, steps, ret, scaled


def risk_rate(env, shield, scale: float, task: dict, episodes: int, seed: int) -> tuple[int, int, int, float]:
    """Falls, steps, warnings (risk > eps_risk) and the summed risk of ``scale * pi`` unshielded, the lookahead's
    model rolling the same scaled policy."""
    policy = shield.policy
    shield.policy = lambda s: scale * policy(s)
    falls = steps = warnings = 0
    total = 0.0
    obs, _ = env.reset(seed=seed, options={"task": task})
    for _ in range(episodes):
        done = False
        while not done:
            a = shield.policy(np.asarray(obs, np.float32)[None])[0]
            risk = shield.risk_of(obs, a)
            obs, _, terminated, truncated, info = env.step(a)
            steps, falls, warnings, total = steps + 1, falls + bool(info["c"]), warnings + (risk > shield.eps_risk), \
                total + risk
            done = terminated or truncated
        obs, _ = env.reset()
    shield.policy = policy
    return falls, steps, warnings, total


def governed(env, shield, task: dict, episodes: int, seed: int, budget: float,
             window: int) -> tuple[int, int, float, int, list[float]]:
    """Falls, steps, return, overrides and c at each window's end of the lookahead shield on c * pi, c governed."""
    policy, scale, risks, levels = shield.policy, 1.0, [], []
    shield.policy = lambda s: scale * policy(s)
    falls = steps = overrides = 0
    ret = 0.0
    obs, _ = env.reset(seed=seed, options={"task": task})
    for _ in range(episodes):
        done = False
        while not done:
            decision = shield(obs, shield.policy(np.asarray(obs, np.float32)[None])[0])
            risks.append(decision.risk)
            if len(risks) == window:
                mean, risks = float(np.mean(risks)), []
                scale = max(0.5, scale - 0.05) if mean > budget else min(1.0, scale + 0.05) if mean < budget / 2 \
                    else scale
                levels.append(round(scale, 2))
            obs, r, terminated, truncated, info = env.step(decision.action)
            ret, steps, falls, overrides = ret + r, steps + 1, falls + bool(info["c"]), overrides + decision.overridden
            done = terminated or truncated
        obs, _ = env.reset()
    return falls, steps, ret, overrides, levels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="the fault, as JSON ('{}': healthy)")
    p.add_argument("--scales", default="1,0.95,0.9,0.85,0.8")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpoint", help="a shield checkpoint whose warnings latch the scale (default: always scaled)")
    p.add_argument("--hold", type=int, default=20, help="steps a warning latches the scale")
    p.add_argument("--random-rate", type=float, help="latch at random with this probability per step instead")
    p.add_argument("--measure-risk", action="store_true",
                   help="with a lookahead checkpoint: run each scale unshielded and print the model's risk rate")
    p.add_argument("--governor", type=float, metavar="BUDGET", help="regulate c on the lookahead's mean risk")
    p.add_argument("--window", type=int, default=100, help="steps per governor decision")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    policy = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    warns = None
    if args.random_rate is not None:
        rng = np.random.default_rng(args.seed)
        warns = lambda o, a: rng.random() < args.random_rate  # noqa: E731
    elif args.checkpoint:
        ckpt = checkpoint.load(args.checkpoint, numpy=True)
        cfg = resolve_config(ckpt.env, overrides=args.set, stored=ckpt.config)
        _, shield, _ = frozen_guard(ckpt, args.checkpoint, 17, 6, cfg, -1.0, 0.0, cfg.seed)
        warns = lambda o, a: shield.risk_of(o, a) > shield.eps_risk  # noqa: E731
    if args.measure_risk:
        for scale in (float(c) for c in args.scales.split(",")):
            falls, steps, warnings, total = risk_rate(env, shield, scale, json.loads(args.task), args.episodes,
                                                      args.seed)
            print(f"{args.task} c={scale}: {falls} falls in {args.episodes} episodes; warnings (risk > "
                  f"{shield.eps_risk}) {1000 * warnings / steps:.2f} per 1000 steps, mean risk {total / steps:.4f}",
                  flush=True)
        return
    if args.governor is not None:
        falls, steps, ret, overrides, levels = governed(env, shield, json.loads(args.task), args.episodes, args.seed,
                                                        args.governor, args.window)
        hist = {c: levels.count(c) / len(levels) for c in sorted(set(levels), reverse=True)}
        print(f"{args.task} governor budget {args.governor}, window {args.window}: {falls} falls in {args.episodes} "
              f"episodes, {1000 * falls / steps:.3f} per 1000 steps, return per 1000 steps {1000 * ret / steps:.0f}, "
              f"overrides {overrides / steps:.2%}; mean c {np.mean(levels):.3f}, share of windows at each c "
              + ", ".join(f"{c}: {v:.0%}" for c, v in hist.items()) + f"; c after 1-10 windows {levels[:10]}")
        return
    base = None
    for scale in (float(c) for c in args.scales.split(",")):
        falls, steps, ret, scaled = run(env, lambda o: policy(np.asarray(o, np.float32)), scale,
                                        json.loads(args.task), args.episodes, args.seed, warns, args.hold)
        per_k = 1000 * ret / steps
        base = per_k if base is None else base
        print(f"{args.task} c={scale}: {falls} falls in {args.episodes} episodes, {1000 * falls / steps:.3f} per "
              f"1000 steps, return per 1000 steps {per_k:.0f} ({per_k / base:.0%} of the first scale's), "
              f"scaled {scaled / steps:.1%} of {steps} steps", flush=True)


if __name__ == "__main__":
    main()
