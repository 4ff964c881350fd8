"""Phase-1 (MAML) speed: meta-iterations/s of the torch.func implementation vs. the per-task loop.

One iteration is what ``methods.meta_train`` runs: a meta-step whose K tasks bootstrap their targets
from the current meta-parameters, then one recovery-policy step against the meta-critic.
Three variants in the same run, same data, same seed: ``loop`` (per-task autograd, eager), ``func``
(torch.func, eager) and ``func+compile`` (torch.func under torch.compile, ``MetaConfig.compile``: what
meta-training uses; its one-off compile time is reported apart). Rounds alternate so that load on a
shared machine hits all alike. Besides it/s, the FLOPs of one meta-step (torch.profiler) and the dense
matmul throughput of this machine give the compute-bound ceiling of any implementation.

    python bench/bench_phase1.py [--quick] [--threads 2 [1 ...]]
Writes bench/results/phase1.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.profiler import profile

from mesa_ros.core.batch import Batch
from mesa_ros.core.config import MetaConfig, RecoveryConfig, SafetyCriticConfig
from mesa_ros.core.maml import MetaLearner
from mesa_ros.core.recovery import RecoveryPolicy
from mesa_ros.core.safety_critic import SafetyCritic

from results_file import save

OBS_DIM, ACT_DIM = 17, 6  # HalfCheetah
VARIANTS = ("loop", "func", "func+compile")


def task_batches(num_tasks: int, batch_size: int, gen: torch.Generator) -> Batch:
    shape = (num_tasks, batch_size)
    return Batch(obs=torch.randn(*shape, OBS_DIM, generator=gen),
                 action=torch.rand(*shape, ACT_DIM, generator=gen) * 2 - 1,
                 reward=torch.zeros(shape), cost=(torch.rand(shape, generator=gen) < 0.05).float(),
                 next_obs=torch.randn(*shape, OBS_DIM, generator=gen), terminated=torch.zeros(shape))


def task_policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.tanh(obs[:, :ACT_DIM])


class Iteration:
    """One phase-1 iteration: the meta-step, then one pi_rec step on the first task's states (as meta_train)."""

    def __init__(self, learner: MetaLearner, recovery: RecoveryPolicy) -> None:
        self.learner, self.recovery = learner, recovery

    def __call__(self, inner: Batch, outer: Batch) -> None:
        self.learner.meta_step(inner, outer, task_policy)
        self.recovery.update(inner.task(0), self.learner.critic)


def step_gflop(iteration: Iteration, inner: Batch, outer: Batch) -> float:
    """FLOPs of one iteration, innermost ops only (vmap's batching rules wrap the real matmul in others)."""
    def has_counted_descendant(event) -> bool:
        return any(child.flops or has_counted_descendant(child) for child in event.cpu_children)

    with profile(with_flops=True) as prof:
        iteration(inner, outer)
    return sum(e.flops for e in prof.events() if e.flops and not has_counted_descendant(e)) / 1e9


def matmul_gflops(rows: int, width: int, seconds: float = 1.0) -> float:
    a, w = torch.randn(rows, width), torch.randn(width, width)
    for _ in range(5):
        a @ w
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ w
        n += 1
    return 2 * rows * width * width * n / (time.perf_counter() - start) / 1e9


def bench(hidden: tuple[int, ...], num_tasks: int, batch_size: int, warmup: int, rounds: int, iters: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    inner, outer = task_batches(num_tasks, batch_size, gen), task_batches(num_tasks, batch_size, gen)
    learners, compile_s = {}, 0.0
    for impl in VARIANTS:
        torch.manual_seed(0)
        learner = MetaLearner(SafetyCritic(OBS_DIM, ACT_DIM, SafetyCriticConfig(hidden=hidden)),
                              MetaConfig(compile=impl == "func+compile"), implementation=impl.split("+")[0])
        learners[impl] = Iteration(learner, RecoveryPolicy(OBS_DIM, ACT_DIM, -1.0, 1.0, RecoveryConfig(hidden=hidden)))
        start = time.perf_counter()
        learners[impl](inner, outer)
        if impl == "func+compile":
            compile_s = time.perf_counter() - start
        for _ in range(warmup):
            learners[impl](inner, outer)
    rates: dict[str, list[float]] = {impl: [] for impl in learners}
    for _ in range(rounds):
        for impl, iteration in learners.items():
            start = time.perf_counter()
            for _ in range(iters):
                iteration(inner, outer)
            rates[impl].append(iters / (time.perf_counter() - start))
    row: dict = {"hidden": list(hidden), "compile_s": compile_s}
    for impl, r in rates.items():
        row[impl] = {"it_per_s_median": statistics.median(r), "it_per_s_best": max(r), "rounds": r}
    row["gflop_per_step"] = step_gflop(learners["loop"], inner, outer)
    for impl in ("func", "func+compile"):
        row[f"ratio_median {impl}/loop"] = row[impl]["it_per_s_median"] / row["loop"]["it_per_s_median"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds (a smoke run, noisy numbers)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="torch intra-op thread counts to run (target machine: 2 cores)")
    args = parser.parse_args()
    load_start = os.getloadavg()  # other processes on a shared machine skew the numbers
    warmup, rounds, iters = (3, 2, 3) if args.quick else (10, 7, 10)
    configs = {"paper 2x256": (256, 256), "reference 3x100": (100, 100, 100)}
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows = {name: bench(hidden, 5, 256, warmup, rounds, iters) for name, hidden in configs.items()}
        mm = matmul_gflops(5 * 256, 256)
        print(f"MAML phase 1 + recovery step, K=5, batch 256, obs/act {OBS_DIM}/{ACT_DIM}, second order, "
              f"{threads} thread(s); "
              f"it/s median (best) of {rounds} alternating rounds")
        print(f"{'critic':<17}" + "".join(f"{v:>17}" for v in VARIANTS)
              + f"{'compiled/loop':>15}{'GFLOP/step':>12}{'ceiling it/s':>14}{'ceiling/loop':>14}")
        for name, row in rows.items():
            row["matmul_bound_it_per_s"] = mm / row["gflop_per_step"]
            row["matmul_bound_ratio_over_loop"] = row["matmul_bound_it_per_s"] / row["loop"]["it_per_s_median"]
            print(f"{name:<17}" + "".join(f"{row[v]['it_per_s_median']:>10.1f} ({row[v]['it_per_s_best']:4.1f})"
                                          for v in VARIANTS)
                  + f"{row['ratio_median func+compile/loop']:>14.2f}x{row['gflop_per_step']:>12.2f}"
                  f"{row['matmul_bound_it_per_s']:>14.1f}{row['matmul_bound_ratio_over_loop']:>13.2f}x")
        print("  compile once: " + ", ".join(f"{n} {r['compile_s']:.0f} s" for n, r in rows.items())
              + f"; ceiling = dense matmul throughput ({mm:.0f} GFLOP/s, {5 * 256}x256 @ 256x256) / FLOPs per "
              "step (the same for every variant); ceiling/loop bounds the speed-up of any implementation\n")
        runs.append({"threads": threads, "matmul_gflops": mm, "configs": rows})
    save("phase1", load_start, {"quick": args.quick, "torch": torch.__version__, "num_tasks": 5, "batch_size": 256,
                                "obs_dim": OBS_DIM, "act_dim": ACT_DIM, "runs": runs})


if __name__ == "__main__":
    main()
