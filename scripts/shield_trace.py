"""Where does a shielded episode fall: too late a warning (the critic) or a bad override (the recovery)?

Runs ``--episodes`` evaluation episodes (deterministic task policy, as ``mesa-ros evaluate``) of a
checkpoint's task policy under ``--task`` for each recovery controller: no shield, the shield with
pi_rec (the product), and the same eps_risk rule overriding with the action its critic ranks safest
of 64 uniform random actions plus pi_rec's, or with the zero action. For every episode that ends in a
violation, the last ``--tail`` steps of Q_risk(s, a_task) and of the override flags are printed, so a
reader sees whether the warning came and what followed. Meant for *training* faults (validation folds).

    python scripts/shield_trace.py runs/fold_bthigh/adapted_lr1e-4.safetensors --task '{"power_scale": {"bthigh": 0}}'
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch

from mesa_ros.core.online import make_env
from mesa_ros.core.restore import load_checkpoint

Recover = Callable[[torch.Tensor], np.ndarray]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--task", required=True, help="JSON task, e.g. a training fault")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--tail", type=int, default=15)
    parser.add_argument("--eps-risk", type=float, default=None, help="default: the checkpoint's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = load_checkpoint(args.checkpoint)
    cfg, agent, layer = run.cfg, run.agent, run.safety
    eps = cfg.shield.eps_risk if args.eps_risk is None else args.eps_risk
    rng, act_dim = np.random.default_rng(0), layer.critic.q_risk.act_dim

    def argmin(obs_t: torch.Tensor) -> np.ndarray:
        cand = torch.cat([layer.recovery.act(obs_t, noise=False)[None],
                          torch.as_tensor(rng.uniform(-1, 1, (64, act_dim)), dtype=torch.float32)])
        q = layer.critic.q_risk(obs_t.expand(len(cand), -1), cand)
        return cand[q.argmin()].numpy()

    def near_task(obs_t: torch.Tensor, a_task: np.ndarray) -> np.ndarray:
        cand = np.clip(a_task + rng.normal(0.0, 0.3, (64, act_dim)), -1, 1)
        cand = torch.as_tensor(np.vstack([a_task, cand]), dtype=torch.float32)
        return cand[layer.critic.q_risk(obs_t.expand(len(cand), -1), cand).argmin()].numpy()

    controllers: dict[str, Recover | None] = {
        "no shield": None,
        "pi_rec": lambda o: layer.recovery.act(o, noise=False).numpy(),
        "critic argmin": argmin,
        "zero action": lambda o: np.zeros(act_dim, np.float32),
        "argmin near a_task": None,  # filled per step below: needs a_task
    }
    env = make_env(cfg)
    for name, recover in controllers.items():
        env.reset(seed=0, options={"task": json.loads(args.task)})
        falls, returns, overrides, steps = 0, [], 0, 0
        for ep in range(args.episodes):
            obs, _ = env.reset()
            risks, flags, ret, done = [], [], 0.0, False
            while not done:
                a = agent.act(obs, deterministic=True)
                obs_t = torch.as_tensor(obs, dtype=torch.float32)
                with torch.no_grad():
                    risk = layer.critic.q_risk(obs_t, torch.as_tensor(a, dtype=torch.float32)).item()
                    over = (recover is not None or name == "argmin near a_task") and risk > eps
                    if over:
                        a = near_task(obs_t, a) if name == "argmin near a_task" else recover(obs_t)
                risks.append(risk)
                flags.append(int(over))
                obs, r, term, trunc, info = env.step(a)
                ret += float(r)
                done = term or trunc
                if info["c"]:
                    falls += 1
                    print(f"  [{name}] episode {ep} falls at step {len(risks)}: Q_risk "
                          + " ".join(f"{q:.2f}" for q in risks[-args.tail:])
                          + "  overrides " + "".join(map(str, flags[-args.tail:])))
            returns.append(ret)
            overrides += sum(flags)
            steps += len(flags)
        print(f"{name:>14}: violations {falls}/{args.episodes}, mean return {np.mean(returns):.1f}, "
              f"override rate {overrides / steps:.3f}")
    env.close()


if __name__ == "__main__":
    main()
