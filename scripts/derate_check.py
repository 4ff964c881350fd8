"""The deployed gait slowed down after a fault: the policy's actions scaled by c (issue #12, diagnosis).

A joint's power loss leaves the deployed gait marginal; does a slightly less forceful gait, a_exec = c * pi(s),
fall less? Three modes, each running the deterministic policy ``--episodes`` episodes under ``--task`` (episodes
end at a fall, as in ``mesa-ros evaluate``):

- default: every step scaled by each c of ``--scales``, no shield; prints falls, falls and return per 1000 steps,
  and the return against the first scale of the same invocation;
- ``--measure-risk --checkpoint CKPT``: the same, and the shield's risk of each executed action is recorded
  (warnings above its eps_risk and mean risk): a lookahead's model rolls the same scaled policy, a critic gives
  Q_risk(s, c * pi(s));
- ``--governor BUDGET --checkpoint CKPT --warnings``: a critic's warning governor as the product runs it (the gait
  slowed on the share of its warnings, no pi_rec; ``critic_governor``), at this budget;
- ``--governor BUDGET --checkpoint CKPT``: the shield runs with the risk governor (``core/governor.py``) at this
  budget and ``--window``, c kept across episodes (one robot, one fault): inside the lookahead (as the product
  runs it), or around a critic's eps rule (its Q_risk of c * a_task as the governor's risk); the other governor
  settings from the checkpoint's config and ``--set`` (e.g. ``--set governor.rule=model``).

    python scripts/derate_check.py --task '{"power_scale": {"bthigh": 0}}' --scales 1,0.95,0.9 --episodes 300
    python scripts/derate_check.py --task '{"power_scale": {"bthigh": 0}}' --governor 0.005 \\
        --checkpoint runs/la/fold_bthigh_adapted_100_s250.safetensors --set lookahead.horizon=15
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.inference import frozen_guard, frozen_policy
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.restore import resolve_config
from mesa_ros.core.stacked import StackedShield
from mesa_ros.paths import config_file

LOOKBACK = 15  # steps before a fall whose decisions are reported (the shipped lookahead's horizon, 0.75 s)


def episodes_of(env, task: dict, episodes: int, seed: int, act: Callable, eps_risk: float = np.inf
                ) -> dict[str, Any]:
    """Totals of ``episodes`` episodes; ``act(obs)`` -> (action, risk or NaN, overridden[, the search's pick's
    risk or NaN]); ``warnings``: risks above ``eps_risk``; ``before_falls``: per fall, its last ``LOOKBACK``
    decisions as (risk, overridden, pick's risk)."""
    out = {"falls": 0, "steps": 0, "return": 0.0, "risk": 0.0, "warnings": 0, "overrides": 0, "before_falls": []}
    obs, _ = env.reset(seed=seed, options={"task": task})
    for _ in range(episodes):
        done, recent = False, deque(maxlen=LOOKBACK)
        while not done:
            action, risk, overridden, *picked = act(obs)
            recent.append((risk, overridden, picked[0] if picked else float("nan")))
            obs, r, terminated, truncated, info = env.step(action)
            if info["c"]:
                out["before_falls"].append(list(recent))
            out["falls"] += bool(info["c"])
            out["steps"] += 1
            out["return"] += r
            out["risk"] += risk
            out["warnings"] += risk > eps_risk
            out["overrides"] += overridden
            done = terminated or truncated
        obs, _ = env.reset()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="the fault, as JSON ('{}': healthy)")
    p.add_argument("--scales", default="1,0.95,0.9,0.85,0.8")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpoint", help="a shield checkpoint (lookahead or critic) for --measure-risk / --governor")
    p.add_argument("--measure-risk", action="store_true", help="record the shield's risk of each scaled gait")
    p.add_argument("--state-risk", action="store_true",
                   help="with --measure-risk and a critic: Q_risk(s, pi(s)), the risk of the full gait from the state "
                        "the scaled gait reached (the critic's own action distribution), not Q_risk(s, c * pi(s))")
    p.add_argument("--governor", type=float, metavar="BUDGET", help="run the shield with a risk governor")
    p.add_argument("--warnings", action="store_true",
                   help="with --governor and a critic: its warning governor, as the product runs it (the gait c * pi "
                        "slowed on the share of warnings 1[Q_risk(s, pi(s)) > eps_risk], no pi_rec override; "
                        "core/shield_rule.govern); the other settings from the checkpoint's critic_governor and "
                        "--set critic_governor.*")
    p.add_argument("--lookahead", metavar="CKPT",
                   help="with --warnings: a lookahead checkpoint that then decides on the critic's c * a_task (its eps "
                        "rule and near-task search, its model rolling c * pi; no governor of its own): both shields "
                        "stacked")
    p.add_argument("--window", type=int, help="decisions per governor update (default: the config's governor.window)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--lookahead-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override of the stacked --lookahead (e.g. lookahead.escape_scales=[0.85,0.7])")
    p.add_argument("--policy", default=str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors")))
    args = p.parse_args()
    if (args.measure_risk or args.governor is not None) and not args.checkpoint:
        p.error("--measure-risk and --governor need --checkpoint")
    if args.lookahead_set and not args.lookahead:
        p.error("--lookahead-set overrides the stacked --lookahead's config: it needs --lookahead")
    if args.warnings and args.governor is None:
        p.error("--warnings needs --governor")
    if args.state_risk and not args.measure_risk:
        p.error("--state-risk needs --measure-risk")
    if args.governor is not None and args.governor <= 0:
        p.error(f"--governor must be a budget > 0, got {args.governor}")
    pi = frozen_policy(checkpoint.load(args.policy, numpy=True), args.policy)
    policy = lambda o: pi(np.asarray(o, np.float32)[None])[0]  # noqa: E731
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    task = json.loads(args.task)
    shield = None
    if args.checkpoint:
        ckpt = checkpoint.load(args.checkpoint, numpy=True)
        cfg = resolve_config(ckpt.env, overrides=args.set, stored=ckpt.config)
        _, shield, _ = frozen_guard(ckpt, args.checkpoint, 17, 6, cfg, -1.0, 0.0, cfg.seed)
    inside = isinstance(shield, ModelLookahead)
    if args.warnings and inside:
        p.error("--warnings is a critic's governor; a lookahead checkpoint runs its own with --governor")
    stacked = None
    if args.lookahead:
        if not args.warnings:
            p.error("--lookahead stacks a lookahead on a critic's warning governor: it needs --warnings")
        la_ckpt = checkpoint.load(args.lookahead, numpy=True)
        la_cfg = resolve_config(la_ckpt.env, overrides=args.lookahead_set, stored=la_ckpt.config)
        _, stacked, _ = frozen_guard(la_ckpt, args.lookahead, 17, 6, la_cfg, -1.0, 0.0, la_cfg.seed)
        if not isinstance(stacked, ModelLookahead):
            p.error(f"--lookahead {args.lookahead} is not a lookahead checkpoint")
    if args.governor is not None and not inside and not args.warnings and cfg.governor.rule == "model":
        p.error("the governor's model rule needs a lookahead checkpoint (its model rolls the gaits); a critic's "
                "checkpoint takes --set governor.rule=step")

    if args.governor is not None:
        base = cfg.critic_governor if args.warnings else cfg.governor
        args.window = args.window or base.window
        governor = RiskGovernor(dataclasses.replace(base, budget=args.governor, window=args.window))
        levels: list[float] = []  # c at the end of each window
        window_means: list[np.ndarray] = []  # what each window's c was chosen on
        decided = [0]
        if inside or args.warnings:
            shield.governor = governor  # the product's path: the shield scales and updates c
        picked: list[float] = []  # the model risk of the search's pick, when it searched
        if stacked is not None:
            stacked = StackedShield(shield, stacked)  # the product's stack: the model rolls the gait that runs
            search = stacked.lookahead.search

            def spied(*a, **k):  # what the search picked, for the report on falls (decisions unchanged)
                cand, risks, pick = search(*a, **k)
                picked.append(float(risks[pick]))
                return cand, risks, pick

            stacked.lookahead.search = spied

        def act(obs):
            if stacked is not None:
                decision = stacked(obs, policy(obs))
            elif inside or args.warnings:
                decision = shield(obs, policy(obs))
            else:
                decision = shield(obs, (governor.scale * policy(obs)).astype(np.float32))
                governor.update(decision.risk)
            decided[0] += 1
            if decided[0] % args.window == 0:
                levels.append(round(governor.scale, 2))
                if governor.window_means is not None:
                    window_means.append(governor.window_means.copy())
            return decision.action, decision.risk, decision.overridden, picked.pop() if picked else float("nan")

        t = episodes_of(env, task, args.episodes, args.seed, act, stacked.eps_risk if stacked else np.inf)
        hist = ", ".join(f"{c}: {levels.count(c) / len(levels):.0%}" for c in sorted(set(levels), reverse=True))
        print(f"{args.task} governor ({governor.cfg.rule} rule) budget {args.governor}, window {args.window}: "
              f"{t['falls']} falls in "
              f"{args.episodes} episodes ({t['steps']} steps), {1000 * t['falls'] / t['steps']:.3f} per 1000 steps, "
              f"return per 1000 steps "
              f"{1000 * t['return'] / t['steps']:.0f}, overrides {t['overrides'] / t['steps']:.2%}; mean c "
              f"{np.mean(levels):.3f}, share of windows at each c {hist}; c after 1-10 windows {levels[:10]}")
        if stacked is not None:  # where the stack's falls come from
            eps, before = stacked.eps_risk, t["before_falls"]
            overrides = [sum(o for _, o, _ in trace) for trace in before]
            highest = [max(r for r, _, _ in trace) for trace in before]
            print(f"  falls after an override in their last {LOOKBACK} decisions (the override did not prevent it): "
                  f"{sum(o > 0 for o in overrides)}; risk above eps_risk {eps}, the search kept c * a_task (no "
                  f"candidate less risky): {sum(r > eps and o == 0 for r, o in zip(highest, overrides))}; risk never "
                  f"above it (not foreseen): {sum(r <= eps for r in highest)}")
            for trace in before:  # a_task's risk, * where overridden (the pick's model risk), last decision last
                print("    before a fall: " + " ".join(f"{r:.2f}" + (f"*({p:.2f})" if o else "")
                                                         for r, o, p in trace))
        if not window_means:
            return  # no window completed: nothing more to say
        within = np.array(window_means) <= args.governor
        per_gait = ", ".join(f"{g}: {m:.4f} / {w:.0%}" for g, m, w in zip(
            governor.grid if len(governor.grid) else ("c",), np.mean(window_means, axis=0), within.mean(axis=0)))
        print(f"  window mean risk (the rule's input), mean / share of windows within budget, per gait: {per_gait}; "
              f"windows with no gait within budget: {np.mean(~within.any(axis=1)):.0%}")
        return

    base = None
    for scale in (float(c) for c in args.scales.split(",")):
        if args.measure_risk and inside:
            shield.policy = lambda s, c=scale: c * pi(s)  # the model rolls the scaled gait

        def act(obs, c=scale):
            a_full = policy(obs).astype(np.float32)
            a = (c * a_full).astype(np.float32)
            risk = shield.risk_of(obs, a_full if args.state_risk else a) if args.measure_risk else float("nan")
            return a, risk, False

        t = episodes_of(env, task, args.episodes, args.seed, act, shield.eps_risk if args.measure_risk else np.inf)
        per_k = 1000 * t["return"] / t["steps"]
        base = per_k if base is None else base
        line = (f"{args.task} c={scale}: {t['falls']} falls in {args.episodes} episodes ({t['steps']} steps), "
                f"{1000 * t['falls'] / t['steps']:.3f} per 1000 steps, return per 1000 steps {per_k:.0f} "
                f"({per_k / base:.0%} of the first scale's)")
        if args.measure_risk:
            line += (f"; warnings (risk > {shield.eps_risk}) {1000 * t['warnings'] / t['steps']:.2f} per 1000 steps, "
                     f"mean risk {t['risk'] / t['steps']:.4f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
