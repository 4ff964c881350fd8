"""How far MAML's inner step moves a meta-trained critic (issue #12, session 27).

For each training dataset (task) and each inner rate alpha given: one inner step as phase 1 takes it
(``core.maml.adapt_params``: theta' = theta - alpha * grad L_inner(theta), an inner batch of the task with the
meta-config's ``pos_fraction`` of violating transitions, targets bootstrapped from theta), then on an outer batch of
the same task the relative change of the critic loss, (L(theta') - L(theta)) / L(theta), and the mean |Q_theta' -
Q_theta|. One alpha for every parameter tensor (the checkpoint keeps no per-tensor rates; the metrics CSV of
``meta-train`` logs their mean, minimum and maximum). If alpha barely moves the outer loss, MAML's meta-gradient
is the gradient of L_outer at theta: in effect the pooled training that Multi-Task does.

    python scripts/inner_step.py --checkpoint runs/fold/mesa.safetensors --data runs/fold/train \\
        --policy config/checkpoints/halfcheetah_disabled/policy.safetensors --alpha 1e-3 1e-2 1e-1
"""
from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from torch.func import functional_call, grad

from mesa_ros.core.batch import Batch
from mesa_ros.core.maml import adapt_params, inverse_softplus
from mesa_ros.core.restore import load_checkpoint, load_datasets
from mesa_ros.core.safety_critic import critic_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a meta-trained critic (mesa-ros meta-train)")
    p.add_argument("--data", required=True, help="the training datasets (a directory)")
    p.add_argument("--policy", required=True, help="the task policy of the bootstrap a' (as in meta-training)")
    p.add_argument("--alpha", type=float, nargs="+", required=True, help="inner rates to try")
    p.add_argument("--repeats", type=int, default=5, help="batches per task")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    run = load_checkpoint(args.checkpoint)
    critic, meta = run.critic, run.cfg.meta
    policy = load_checkpoint(args.policy).agent.policy
    tasks = load_datasets([args.data])
    q_risk = critic.q_risk
    params = {n: p.detach() for n, p in q_risk.named_parameters()}
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    print(f"{args.checkpoint}: {len(tasks)} tasks, inner/outer batch {meta.inner_batch_size}/{meta.outer_batch_size}, "
          f"pos_fraction {meta.pos_fraction}")
    for alpha in args.alpha:
        raw_rate = {n: torch.tensor(inverse_softplus(alpha)) for n in params}  # adapt_params applies softplus
        rel, dq, q = [], [], []
        for task in tasks:
            for _ in range(args.repeats):
                inner = task.sample(meta.inner_batch_size, rng, pos_fraction=meta.pos_fraction)
                outer = task.sample(meta.outer_batch_size, rng, pos_fraction=meta.pos_fraction)
                t_in, t_out = critic.target_value(Batch.stack([inner, outer]), policy, current=True)
                g = grad(partial(critic_loss, q_risk))(params, inner.obs, inner.action, t_in)
                adapted = adapt_params(params, g, raw_rate)
                with torch.no_grad():
                    before = critic_loss(q_risk, params, outer.obs, outer.action, t_out)
                    after = critic_loss(q_risk, adapted, outer.obs, outer.action, t_out)
                    q0 = functional_call(q_risk, params, (outer.obs, outer.action))
                    q1 = functional_call(q_risk, adapted, (outer.obs, outer.action))
                rel.append(((after - before) / before).item())
                dq.append((q1 - q0).abs().mean().item())
                q.append(q0.mean().item())
        print(f"alpha {alpha:g}: outer loss change {np.mean(rel):+.2%} (median {np.median(rel):+.2%}), "
              f"mean |dQ| {np.mean(dq):.5f} against mean Q {np.mean(q):.4f}", flush=True)


if __name__ == "__main__":
    main()
