"""How often phase 2 collapses a critic (Q_risk ~ 0 even on violating states), measured on training tasks only.

For each offline seed, a method's offline stage (``--method``: Multi-Task or MESA, on the training data of
an experiment directory made by ``mesa-ros experiment``; MESA's recovery steps on the pooled training
data), then phase 2 (the config's adapt.steps Adam steps at adapt.lr) on
``--transitions`` transitions of each training dataset in turn (a pseudo test task: the test task is
never read), with several phase-2 seeds. A run collapses when the median Q_risk on the violating
transitions it was adapted on ends below 0.01 (their target is 1). Also reports, for the first collapse,
how far the pre-sigmoid logits moved in the first 10 Adam steps, and, before and after phase 2 on the
whole dataset of the pseudo test task, the median Q_risk at violations (ideal 1), the median Q_risk
31+ steps from any violation and the share of those states over eps_risk (where the shield would
override). ``--held-out``: the offline stage leaves the pseudo test task out (one offline stage per
task), so phase 2 meets a task the critic has not seen, as on the test task. Critic variants: the
paper's MLP and the reference's WLinear layers (``critic.wlinear``).

    python scripts/phase2_collapse.py runs/navigation-2 [--method mesa] [--held-out] [--set adapt.lr=1e-4]

``--test-diagnosis``: instead, phase 2 again from each offline checkpoint of the directory on its test
dataset (``--phase2-seeds`` runs each), and the median Q_risk on the violating test transitions before
and after: a diagnosis of finished runs, not a basis for any setting.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from mesa_ros.core.calibration import calibration
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.methods import adapt_to_test, get_method, offline_stage
from mesa_ros.core.restore import env_spaces, load_checkpoint, load_datasets, new_agent, resolve_config


def logits(layer, data) -> torch.Tensor:
    obs, act = torch.as_tensor(data.s, dtype=torch.float32), torch.as_tensor(data.a_exec, dtype=torch.float32)
    with torch.no_grad():
        return torch.logit(layer.critic(obs, act).clamp(1e-12, 1 - 1e-7))


def summary(layer, task_policy, data, eps_risk: float) -> tuple[float, float, float]:
    """(median Q_risk at violations, share of states 31+ steps from one over eps_risk, their median Q_risk)."""
    rows = calibration(layer.critic, task_policy, data, eps_risk)
    far = rows[-1] if rows[-1].high == np.inf else None
    return rows[0].median_q, far.above_eps if far else np.nan, far.median_q_policy if far else np.nan


def test_diagnosis(out: Path, phase2_seeds: int) -> None:
    test = TransitionDataset.load(out / "data" / "test.safetensors")
    for path in sorted((out / "offline").glob("*.safetensors")):
        run = load_checkpoint(path)
        before = calibration(run.critic, run.agent.policy, test, run.cfg.shield.eps_risk)[0].median_q
        after = []
        for s in range(phase2_seeds):
            layer = copy.deepcopy(run.safety)
            torch.manual_seed(s)
            adapt_to_test(run.cfg, layer, test, run.agent.policy, np.random.default_rng(s))
            after.append(
                round(calibration(layer.critic, run.agent.policy, test, run.cfg.shield.eps_risk)[0].median_q, 3)
            )
        collapsed = sum(q < 0.01 for q in after)
        print(f"{path.name}: median Q_risk on violating test transitions {before:.3f} before phase 2, after "
              f"{after} ({collapsed} of {phase2_seeds} collapsed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir")
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--method", default="multitask", choices=("multitask", "mesa"))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. adapt.lr=1e-4"
    )
    parser.add_argument("--variants", default="mlp,wlinear", help="critic variants to measure (mlp, wlinear)")
    parser.add_argument("--offline-seeds", type=int, default=3)
    parser.add_argument("--phase2-seeds", type=int, default=3)
    parser.add_argument("--transitions", type=int, default=200, help="pseudo test-set size (Navigation: 200)")
    parser.add_argument("--held-out", action="store_true", help="offline stage on the other training tasks "
                        "for each pseudo test task (leave one out): does phase 2 adapt to an unseen task?")
    parser.add_argument("--test-diagnosis", action="store_true", help="re-run phase 2 of the offline checkpoints "
                        "on the test dataset (diagnosis only)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.test_diagnosis:
        test_diagnosis(Path(args.experiment_dir), args.phase2_seeds)
        return
    train = load_datasets(sorted(Path(args.experiment_dir, "data").glob("train_*.safetensors")), split="train")
    env = train[0].metadata.env
    space, method = env_spaces(env), get_method(args.method)
    result = {}
    for wlinear in (v == "wlinear" for v in args.variants.split(",")):
        cfg = resolve_config(env, args.preset, [*args.set, f"critic.wlinear={str(wlinear).lower()}"], method=method)
        short = dataclasses.replace(cfg, adapt=dataclasses.replace(cfg.adapt, steps=10))
        runs, collapsed, first, before, after = 0, 0, None, [], []
        for seed in range(args.offline_seeds):
            agent = new_agent(dataclasses.replace(cfg, seed=seed), space)
            shared = None if args.held_out else offline_stage(method, cfg, *space, agent.policy, train, seed=seed)
            for k, data in enumerate(train):
                pseudo = data.fraction(args.transitions / len(data))
                if pseudo.num_violations == 0:
                    continue
                others = [d for j, d in enumerate(train) if j != k]
                layer = shared or offline_stage(method, cfg, *space, agent.policy, others, seed=seed)
                before.append(summary(layer, agent.policy, data, cfg.shield.eps_risk))
                for s in range(args.phase2_seeds):
                    adapted = copy.deepcopy(layer)
                    torch.manual_seed(s)
                    adapt_to_test(short, adapted, pseudo, agent.policy, np.random.default_rng(s))
                    shift10 = float((logits(adapted, pseudo) - logits(layer, pseudo)).median())
                    adapted = copy.deepcopy(layer)
                    torch.manual_seed(s)
                    adapt_to_test(cfg, adapted, pseudo, agent.policy, np.random.default_rng(s))
                    after.append(summary(adapted, agent.policy, data, cfg.shield.eps_risk))
                    runs += 1
                    if calibration(adapted.critic, agent.policy, pseudo, cfg.shield.eps_risk)[0].median_q < 0.01:
                        collapsed += 1
                        first = first or {"offline_seed": seed, "train_task": k, "phase2_seed": s,
                                          "median_logit_shift_first_10_steps": shift10}
        name = "wlinear" if wlinear else "mlp"
        result[name] = {"runs": runs, "collapsed": collapsed, "first_collapse": first,
                        "before_phase2": np.mean(before, axis=0).round(4).tolist(),
                        "after_phase2": np.mean(after, axis=0).round(4).tolist()}
        print(f"{env} {method.name} critic ({name}): phase 2 collapsed in {collapsed} of {runs} runs on training tasks"
              + (f"; first: {first}" if first else ""))
        for when, rows in (("before", before), ("after", after)):
            q_violation, above_far, q_far = np.mean(rows, axis=0)
            print(f"  {when} phase 2 (mean over runs, the whole task's data): median Q_risk at violations "
                  f"{q_violation:.3f}, far (31+ steps) median {q_far:.4f}, share over eps_risk {above_far:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
