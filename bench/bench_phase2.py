"""Phase-2 speed: seconds for M critic + recovery updates (batch 256) on 10k synthetic cheetah transitions.

Target (design.md): 500 steps in <= 5 s on 2 CPU cores. Runs ``adaptation.adapt`` itself, with
2 x 256 networks and a stand-in task policy (a fixed random deterministic actor) for the critic target.

    python bench/bench_phase2.py [--quick] [--threads 2 [1 ...]]
Writes bench/results/phase2.json.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from mesa_ros.core.adaptation import adapt
from mesa_ros.core.batch import Batch
from mesa_ros.core.config import AdaptConfig, RecoveryConfig, SafetyCriticConfig
from mesa_ros.core.networks import DeterministicActor
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic
from mesa_ros.core.safety_layer import SafetyLayer

from results_file import save

OBS_DIM, ACT_DIM, TRANSITIONS = 17, 6, 10_000  # HalfCheetah; ablation 6.1's 1/4 test set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 steps instead of 500 (time scaled to 500)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="torch intra-op thread counts to run (target machine: 2 cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per thread count; the best is reported")
    args = parser.parse_args()
    load_start = os.getloadavg()  # other processes on a shared machine skew the numbers
    torch.manual_seed(0)
    cfg = AdaptConfig()
    steps = 100 if args.quick else cfg.steps

    data = Batch(obs=torch.randn(TRANSITIONS, OBS_DIM), action=torch.rand(TRANSITIONS, ACT_DIM) * 2 - 1,
                 reward=torch.randn(TRANSITIONS), cost=(torch.rand(TRANSITIONS) < 0.06).float(),
                 next_obs=torch.randn(TRANSITIONS, OBS_DIM), terminated=torch.zeros(TRANSITIONS))

    def sample_batch(batch_size: int) -> Batch:
        idx = torch.randint(0, TRANSITIONS, (batch_size,))
        return Batch(data.obs[idx], data.action[idx], data.reward[idx], data.cost[idx], data.next_obs[idx],
                     data.terminated[idx])

    pi_task = DeterministicActor(OBS_DIM, ACT_DIM, (256, 256), -1.0, 1.0).requires_grad_(False)
    layer = SafetyLayer(SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig()),
                        RecoveryPolicy(OBS_DIM, ACT_DIM, -1.0, 1.0, RecoveryConfig()))
    print(f"phase 2: {cfg.steps} critic+recovery steps, batch {cfg.batch_size}, {TRANSITIONS} transitions, "
          f"obs/act {OBS_DIM}/{ACT_DIM}, 2x256 nets{f' (quick: {steps} steps, scaled)' if args.quick else ''}; "
          f"target 5 s")
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        adapt(layer, sample_batch, pi_task, steps=10, lr=cfg.lr, batch_size=cfg.batch_size)  # warm-up
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            metrics = adapt(layer, sample_batch, pi_task, steps=steps, lr=cfg.lr, batch_size=cfg.batch_size)
            seconds.append((time.perf_counter() - start) * cfg.steps / steps)
        best = min(seconds)
        print(f"{threads} thread(s): best {best:.2f} s ({1e3 * best / cfg.steps:.2f} ms/step, "
              f"{5.0 / best:.2f}x margin), "
              f"all {[round(x, 2) for x in seconds]}")
        runs.append({"threads": threads, "seconds_best": best, "seconds_all": seconds, "final_metrics": metrics})
    save("phase2", load_start, {"quick": args.quick, "torch": torch.__version__, "steps": cfg.steps,
                                "timed_steps": steps, "batch_size": cfg.batch_size, "transitions": TRANSITIONS,
                                "target_seconds": 5.0, "runs": runs})


if __name__ == "__main__":
    main()
