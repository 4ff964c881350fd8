"""Model-lookahead shield speed (``core/lookahead.py``): milliseconds per control-step decision of the shipped
lookahead checkpoint on the policy's own post-fault states, against the 50 ms control period at 20 Hz (the
physical limit) and against the same risk computed through the torch ensemble as the prototype did (same run).

A decision is risk(s, a_task) alone (20 particles x the checkpoint's horizon, 15 model steps; every step) or,
where that exceeds eps_risk, also the search over 32 perturbed sequences (33 x 20 rollouts); and the same searching
decision with the realtime graph's decision budget (70% of the period: batches of ``lookahead.search_chunk``
sequences until the next would end past it), with the number of sequences it had time for. The numpy path
evaluates the 5 members as one batched matmul per layer with no torch dispatch; the torch path calls
``ProbabilisticEnsemble.step``.

    .venv/bin/python bench/bench_lookahead.py [--states 200]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import torch

from mesa_ros import envs
from mesa_ros.core import checkpoint
from mesa_ros.core.carl import ProbabilisticEnsemble
from mesa_ros.core.config import stored_config
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.nodes.defaults import default_checkpoint

from results_file import save

PERIOD_MS = 50.0  # 20 Hz
BUDGET_MS = 0.7 * PERIOD_MS  # mesa_ros.graph.DECISION_SHARE of the period, as the realtime graph sets it


def post_fault_states(policy, n: int) -> np.ndarray:
    """The deterministic policy's states under fshin's total loss (the demo's fault)."""
    env = envs.make("HalfCheetah-Disabled", max_episode_steps=1000)
    obs, _ = env.reset(seed=0, options={"task": {"power_scale": {"fshin": 0.0}}})
    states = []
    for _ in range(n):
        states.append(obs)
        obs, _, terminated, truncated, _ = env.step(policy(obs[None])[0])
        if terminated or truncated:
            obs, _ = env.reset()
    return np.asarray(states, dtype=np.float32)


def torch_risk(model: ProbabilisticEnsemble, policy, obs: np.ndarray, a: np.ndarray, particles: int, horizon: int,
               generator: torch.Generator) -> float:
    """The prototype's risk of a_task: the particles batched, the torch ensemble, the numpy policy."""
    s = torch.as_tensor(np.repeat(obs[None], particles, 0))
    member = torch.arange(particles) % model.members
    fell = torch.zeros(particles, dtype=torch.bool)
    act = torch.as_tensor(np.repeat(a[None], particles, 0))
    for _ in range(horizon):
        s, p = model.step(s, act, member, generator)
        fell |= p > 0.5
        act = torch.as_tensor(policy(s.numpy()), dtype=torch.float32)
    return float(fell.float().mean())


def timed(fn, items) -> np.ndarray:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1e3)
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=200, help="post-fault states to decide on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    path = default_checkpoint("HalfCheetah-Disabled", "lookahead")
    ckpt = checkpoint.load(path, numpy=True)
    cfg = stored_config(ckpt.env, ckpt.config).lookahead
    shield = frozen_lookahead(ckpt, str(path), cfg)
    searching = frozen_lookahead(ckpt, str(path), dataclasses.replace(cfg, eps_risk=-1.0))  # always searches
    budgeted = frozen_lookahead(ckpt, str(path), dataclasses.replace(cfg, eps_risk=-1.0))
    budgeted.budget_s, risk, tried = BUDGET_MS / 1e3, budgeted.risk, []
    # counts the sequences evaluated
    budgeted.risk = lambda obs, seq, rng=None: tried.append(len(seq)) or risk(obs, seq, rng)
    states = post_fault_states(shield.policy, args.states)
    actions = shield.policy(states).astype(np.float32)
    model = ProbabilisticEnsemble(ckpt.obs_dim, ckpt.act_dim, cfg.members, cfg.hidden)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in ckpt.tensors["ensemble"].items()})
    generator = torch.Generator().manual_seed(0)
    rows = range(len(states))
    risk_ms = timed(lambda i: shield.risk_of(states[i], actions[i]), rows)
    search_ms = timed(lambda i: searching(states[i], actions[i]), rows[: max(1, len(states) // 4)])
    budget_ms = timed(lambda i: tried.append(0) or budgeted(states[i], actions[i]), rows[: max(1, len(states) // 4)])
    per_decision = np.add.reduceat(tried, np.flatnonzero(np.asarray(tried) == 0)) - 1  # minus a_task's own risk
    with torch.no_grad():
        torch_ms = timed(lambda i: torch_risk(model, shield.policy, states[i], actions[i], cfg.particles, cfg.horizon,
                                              generator), rows)
    figures = {"states": len(states), "particles": cfg.particles, "horizon": cfg.horizon,
               "candidates": cfg.candidates, "period_ms": PERIOD_MS}
    for name, ms in (("risk_numpy", risk_ms), ("search_numpy", search_ms), ("search_budgeted", budget_ms),
                     ("risk_torch", torch_ms)):
        figures[name] = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                         "share_of_period_p50": float(np.median(ms) / PERIOD_MS)}
        print(f"{name:13s} p50 {np.median(ms):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms  "
              f"({np.median(ms) / PERIOD_MS:.1%} of the 50 ms period at 20 Hz)")
    figures["search_budgeted"] |= {"budget_ms": BUDGET_MS, "sequences_min": int(per_decision.min()),
                                   "sequences_p50": float(np.median(per_decision)),
                                   "share_over_period": float(np.mean(budget_ms > PERIOD_MS)),
                                   "share_over_period_unbudgeted": float(np.mean(search_ms > PERIOD_MS))}
    print(f"with the {BUDGET_MS:.0f} ms budget: {np.median(per_decision):.0f} of {cfg.candidates + 1} sequences "
          f"(min {per_decision.min()}), over the period {np.mean(budget_ms > PERIOD_MS):.1%} of decisions "
          f"(without: {np.mean(search_ms > PERIOD_MS):.1%})")
    figures["speedup_numpy_vs_torch_p50"] = float(np.median(torch_ms) / np.median(risk_ms))
    print(f"numpy vs torch (risk of a_task, median): {figures['speedup_numpy_vs_torch_p50']:.1f}x")
    save("lookahead", load_start, figures)


if __name__ == "__main__":
    main()
