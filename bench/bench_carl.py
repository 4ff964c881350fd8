"""CARL planning speed: control steps planned per second by the risk-averse CEM (``core/carl.py``) with a PETS
ensemble, per environment (its config at full scale, the CARL reference's values, and at the cpu-small preset), against
the same work done one candidate at a time (same run).

Per control step the planner scores population x particles x horizon model steps per CEM iteration; the
batched planner does each horizon step for every candidate and particle in one pass (members in one batched
matmul). The baseline scores the candidates one after another (its rate measured on a fraction of the
population and scaled), which is what a straightforward loop would do.

    .venv/bin/python bench/bench_carl.py [--steps 5]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from mesa_ros.core.carl import ProbabilisticEnsemble, RiskAverseCEM
from mesa_ros.core.carl_agent import planner_config
from mesa_ros.core.config import load_config

from results_file import save

DIMS = {"Navigation-2": (2, 2), "Cartpole-Length": (5, 1), "HalfCheetah-Disabled": (17, 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="control steps planned per environment")
    args = parser.parse_args()
    torch.set_num_threads(2)
    load_start = os.getloadavg()
    figures = {"threads": 2}
    for (env, (obs_dim, act_dim)), preset in [(item, p) for item in DIMS.items() for p in ("full", "cpu-small")]:
        carl = load_config(env, None if preset == "full" else preset).carl
        cfg = planner_config(carl)
        torch.manual_seed(0)
        model = ProbabilisticEnsemble(obs_dim, act_dim, carl.members, carl.hidden)
        planner = RiskAverseCEM(model.step, lambda s, a, n: -n.square().sum(1), -np.ones(act_dim), np.ones(act_dim),
                                members=carl.members, cfg=cfg)
        s0 = np.zeros(obs_dim)
        planner.act(s0)  # warm-up
        steps = args.steps if preset == "full" else 5 * args.steps
        start = time.perf_counter()
        for _ in range(steps):
            planner.act(s0)
        batched = steps / (time.perf_counter() - start)
        candidates = torch.zeros(cfg.population, cfg.horizon, act_dim)
        few = 20  # the per-candidate loop on 20 candidates, scaled to the population and iterations
        start = time.perf_counter()
        for c in candidates[:few]:
            planner.costs(s0, c[None])
        loop = 1.0 / ((time.perf_counter() - start) / few * cfg.population * cfg.iterations)
        model_steps = cfg.population * cfg.particles * cfg.horizon * cfg.iterations
        figures[f"{env} {preset}"] = {
            "planner": cfg.__dict__,
            "members": carl.members,
            "hidden": list(carl.hidden),
            "obs_dim": obs_dim,
            "act_dim": act_dim,
            "planning_steps_per_s": round(batched, 3),
            "per_candidate_loop_steps_per_s": round(loop, 4),
            "speedup": round(batched / loop, 1),
            "model_steps_per_s": round(batched * model_steps),
        }
        print(
            f"{env:>20} {preset:>9}: {batched:6.2f} planned control steps/s "
            f"({batched * model_steps / 1e6:.1f}M model steps/s), "
            f"per-candidate loop {loop:.3f}/s: {batched / loop:.0f}x"
        )
    save("bench_carl", load_start, figures)


if __name__ == "__main__":
    main()
