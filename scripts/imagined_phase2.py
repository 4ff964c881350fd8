"""Prototype (issue #12): phase 2 of a critic on rollouts imagined in the adapted lookahead model.

The meta-learned Q_risk does not foresee the deployed gait's falls under a new fault (docs/results.md): the
post-fault data hold 0-2 of them and TD(0) at the slow target cannot carry them back, while the lookahead
model adapted on the same data sees them coming. Here the critic is adapted instead on Monte-Carlo targets
computed in that model:

    y(s, a) = 1/P sum_p gamma_risk^{T_p},   T_p = first step at which particle p falls (a fall at the first
              transition: T = 0, y = 1; no fall within H steps: gamma_risk^{T_p} taken as 0),

the paper's Q_risk(s, a) = E[sum_t gamma_risk^t c_t] of the deployed policy after a (truncated at H; 0.8^15 =
0.035), for states s of the post-fault data and of imagined rollouts from them (pi_task + N(0, noise^2)), and
actions a: a_task, a_task + N(0, sigma^2) and uniform ones, one third each. The critic starts from its offline
parameters and regresses y (``Batch.target``) while pi_rec descends it: ``adaptation.train``, phase 2's loop.

    python scripts/imagined_phase2.py --critic runs/fold_bthigh/mesa.safetensors \\
        --model runs/la/fold_bthigh_adapted_100_s250.safetensors --post runs/la/post_bthigh_100.safetensors \\
        --out runs/imagined/bthigh_mesa.safetensors
    mesa-ros evaluate --checkpoint runs/imagined/bthigh_mesa.safetensors --task '{"power_scale": {"bthigh": 0}}' \\
        --episodes 300 --seed 1
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mesa_ros.core import adaptation, checkpoint
from mesa_ros.core.batch import Batch
from mesa_ros.core.inference import frozen_lookahead
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.restore import load_checkpoint, load_datasets, resolve_config, save_checkpoint


def first_falls(la: ModelLookahead, s0: np.ndarray, a0: np.ndarray, horizon: int, rng: np.random.Generator,
                chunk: int = 256) -> np.ndarray:
    """First fall step of each particle (N, P) when a0 is taken in s0 and the policy after; ``horizon``: none."""
    P, out = la.cfg.particles, []
    for i in range(0, len(s0), chunk):
        s = np.repeat(s0[i:i + chunk], P, 0).astype(np.float32)
        a = np.repeat(a0[i:i + chunk], P, 0).astype(np.float32)
        first = np.full(len(s), horizon)
        for t in range(horizon):
            if t:
                a = la.policy(s).astype(np.float32, copy=False)
            s, p_fall = la.model.step(s, a, rng.standard_normal(s.shape, dtype=np.float32))
            first = np.where((first == horizon) & (p_fall > 0.5), t, first)
        out.append(first.reshape(-1, P))
    return np.concatenate(out)


def imagined_states(la: ModelLookahead, real: np.ndarray, count: int, noise: tuple[float, ...], horizon: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``count`` states: the real ones and those of single-particle rollouts of pi_task + N(0, noise^2) from
    them, each rollout with one of the ``noise`` levels (states after a predicted fall dropped)."""
    E, states = la.model.members, [real]
    while sum(len(x) for x in states) < count:
        s = real[rng.integers(len(real), size=E * 64)].astype(np.float32)
        alive = np.ones(len(s), dtype=bool)
        level = rng.choice(noise, size=(len(s), 1))
        for _ in range(horizon):
            a = np.clip(la.policy(s) + rng.normal(0, 1, (len(s), la.model.act_dim)) * level, la.low, la.high)
            s, p_fall = la.model.step(s, a.astype(np.float32), rng.standard_normal(s.shape, dtype=np.float32))
            alive &= p_fall <= 0.5
            states.append(s[alive])
    pool = np.concatenate(states)
    return pool[rng.choice(len(pool), count, replace=False)] if len(pool) > count else pool


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--critic", required=True, help="offline checkpoint with a critic (meta-train)")
    p.add_argument("--model", required=True, help="adapted lookahead checkpoint (mesa-ros lookahead adapt)")
    p.add_argument("--post", required=True, help="the post-fault dataset the model was adapted on")
    p.add_argument("--out", required=True)
    p.add_argument("--states", type=int, default=6000)
    p.add_argument("--noise", type=float, nargs="+", default=[0.3, 0.6], help="action noise levels of the imagined "
                   "state rollouts")
    p.add_argument("--rollout", type=int, default=30, help="length of the imagined state rollouts")
    p.add_argument("--pos-fraction", type=float, default=0.3, help="share of each batch from pairs with y > 0.1")
    p.add_argument("--sigma", type=float, default=0.6, help="std of the perturbed actions")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    la_ckpt = checkpoint.load(args.model, numpy=True)
    la = frozen_lookahead(la_ckpt, args.model, resolve_config(la_ckpt.env, stored=la_ckpt.config).lookahead,
                          seed=args.seed)
    (post,) = load_datasets([args.post])
    run = load_checkpoint(args.critic)
    layer, gamma, H = run.offline_layer(), run.cfg.critic.gamma_risk, la.cfg.horizon

    start = time.monotonic()
    s = imagined_states(la, post.s.astype(np.float32), args.states, tuple(args.noise), args.rollout, rng)
    a_task = la.policy(s).astype(np.float32)
    kind = rng.integers(3, size=len(s))
    a = np.where((kind == 1)[:, None], np.clip(a_task + rng.normal(0, args.sigma, a_task.shape), la.low, la.high),
                 a_task)
    a = np.where((kind == 2)[:, None], rng.uniform(la.low, la.high, a_task.shape), a).astype(np.float32)
    first = first_falls(la, s, a, H, rng)
    y = np.where(first < H, gamma ** first.astype(np.float64), 0.0).mean(1).astype(np.float32)
    for k, name in enumerate(("a_task", "perturbed", "uniform")):
        sel = kind == k
        print(f"{name}: {sel.sum()} pairs, mean y {y[sel].mean():.3f}, y > 0.1: {(y[sel] > 0.1).mean():.1%}")
    print(f"{len(s)} imagined targets in {time.monotonic() - start:.0f} s")

    obs, act, target = (torch.as_tensor(x) for x in (s, a, y))
    zeros = torch.zeros(len(s))

    risky = np.flatnonzero(y > 0.1)

    def sample_batch(n: int) -> Batch:
        k = int(round(args.pos_fraction * n)) if len(risky) else 0
        i = torch.as_tensor(np.concatenate([rng.choice(risky, k), rng.integers(len(s), size=n - k)]))
        return Batch(obs[i], act[i], zeros[i], zeros[i], obs[i], zeros[i], target[i])

    metrics = adaptation.adapt(layer, sample_batch, run.agent.policy, args.steps, args.lr, 256)
    print(", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    with torch.no_grad():
        q = layer.critic(obs, act).squeeze(-1).numpy()
    for k, name in enumerate(("a_task", "perturbed", "uniform")):
        sel = kind == k
        print(f"{name}: corr(Q_risk, y) {np.corrcoef(q[sel], y[sel])[0, 1]:.3f}")
    out = save_checkpoint(args.out, run.cfg, run.method, run.space, run.agent, safety=layer, stage="adapt",
                          task=post.metadata.task, imagined_states=len(s))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
