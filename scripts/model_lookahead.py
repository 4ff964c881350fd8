"""Issue #12 validation tool: the lookahead shield (``core/lookahead.py``) on the same episodes (env seed i for
episode i) for every variant, with and without the shield; the product's own commands are ``mesa-ros lookahead``.

The CARL ensemble (``core/carl.py``) is fitted on the deployed policy's perturbed behaviour under the training
faults (every dataset in ``--data`` but the held-out ``--fault``), then adapted on N post-fault transitions of the
deterministic policy under the held-out fault (as the adaptation node collects them; oversampled to
``--post-share`` of each batch). Shield: at every step the deployed policy is rolled out ``--horizon`` steps in
the model as ``--particles`` particles (particle p follows member p mod E); risk = the share of particles whose
catastrophe probability exceeds 0.5 at some step. Above ``--eps`` the executed action is, among a_task and
``--candidates`` perturbed sequences (as in ``lookahead_bound.py``: a_task + N(0, sigma^2), then ``--perturbed - 1``
steps of N(0, sigma^2), then the policy), the first action of the one of least risk (ties: the closest to a_task).
Also prints the model's risk k steps before each fall of the unshielded run. The defaults are the product's
(``LookaheadConfig``); the adaptation mixes all training transitions unless ``--rehearsal N``.

    python scripts/model_lookahead.py --fault bthigh --episodes 100   # the validation fold (docs/results.md)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mesa_ros import cli, envs
from mesa_ros.core import checkpoint
from mesa_ros.core.carl import EnsembleConfig, ProbabilisticEnsemble, adapt_ensemble, fit_ensemble
from mesa_ros.core.catastrophe import CatastropheClassifier, fit_catastrophe
from mesa_ros.core.config import LookaheadConfig
from mesa_ros.core.dataset import concatenate, load
from mesa_ros.core.inference import FrozenCatastrophe, FrozenEnsemble, frozen_policy, numpy_state
from mesa_ros.core.lookahead import ModelLookahead, StateJudged
from mesa_ros.core.rollout import play_episode
from mesa_ros.core.shield_rule import ShieldDecision
from mesa_ros.paths import config_file

POLICY = str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors"))
D = LookaheadConfig()  # the defaults: the product's settings


def post_fault_data(fault: str, n: int, out: Path) -> Path:
    path = out / f"post_{fault}_{n}.safetensors"
    if not path.exists() and cli.main(["collect", "--env", "HalfCheetah-Disabled", "--split", "test", "--task",
                                       json.dumps({"power_scale": {fault: 0.0}}), "--policy", POLICY, "--deterministic",
                                       "--transitions", str(n), "--seed", "7", "--out", str(path), "--no-progress"]):
        raise SystemExit(f"collecting {path} failed")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", default="bthigh")
    p.add_argument("--data", default="runs/demo_checkpoints/train_fshin")
    p.add_argument("--out", default="runs/model_lookahead")
    p.add_argument("--post", type=int, default=1000)
    p.add_argument("--post-share", type=float, default=D.post_share)
    p.add_argument("--rehearsal", type=int, default=0, help="training transitions in the adaptation's mix (0: all)")
    p.add_argument("--fit-steps", type=int, default=D.fit_steps)
    p.add_argument("--adapt-steps", type=int, default=D.adapt_steps)
    p.add_argument("--batch", type=int, default=D.batch_size)
    p.add_argument("--horizon", type=int, default=D.horizon)
    p.add_argument("--particles", type=int, default=D.particles)
    p.add_argument("--eps", type=float, default=D.eps_risk)
    p.add_argument("--candidates", type=int, default=D.candidates)
    p.add_argument("--sigma", type=float, default=D.sigma)
    p.add_argument("--perturbed", type=int, default=D.perturbed_steps,
                   help="perturbed steps at the start of each candidate")
    p.add_argument("--judge", choices=["transition", "state"], default=D.judge,
                   help="judge a model step by the ensemble's transition head or a classifier of the next state")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0, help="episode i starts from env seed first_seed + i")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", default="none,shield", help="comma-separated runs: none (no shield), shield")
    args = p.parse_args()
    modes = args.modes.split(",")
    if not modes or set(modes) - {"none", "shield"}:
        p.error(f"--modes: expected a comma-separated list of none, shield; got {args.modes!r}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    policy = frozen_policy(checkpoint.load(POLICY, numpy=True), POLICY)

    kept = f"_r{args.rehearsal}" if args.rehearsal else ""
    model_path = out / f"model_{args.fault}_{args.post}_{args.fit_steps}_{args.adapt_steps}_{args.seed}{kept}.pt"
    parts = [load(f) for f in sorted(Path(args.data).glob("*.safetensors")) if f.stem != args.fault]
    train = concatenate(parts, metadata=parts[0].metadata)
    model = ProbabilisticEnsemble(train.obs_dim, train.act_dim)
    base_path = out / f"base_{args.fault}_{args.fit_steps}_{args.seed}.pt"
    if model_path.exists():
        model.load_state_dict(torch.load(model_path))
    else:
        if base_path.exists():
            model.load_state_dict(torch.load(base_path))
        else:
            t0 = time.time()
            model.standardise_on(train.s, train.a_exec, train.s_next)
            cfg = EnsembleConfig(batch_size=args.batch, steps=args.fit_steps)
            print("fit", fit_ensemble(model, train.s, train.a_exec, train.s_next, train.c, cfg, rng),
                  f"{time.time() - t0:.0f} s", flush=True)
            torch.save(model.state_dict(), base_path)
        post = load(post_fault_data(args.fault, args.post, out))
        cfg = EnsembleConfig(batch_size=args.batch, steps=args.adapt_steps)
        mix = train.subset(np.sort(rng.choice(len(train), args.rehearsal, replace=False))) if args.rehearsal else train
        print("adapt", adapt_ensemble(model, mix, post, cfg, rng, args.post_share),
              f"({post.num_violations} violations)")
        torch.save(model.state_dict(), model_path)
    frozen = FrozenEnsemble(numpy_state(model))
    if args.judge == "state":
        clf, clf_path = CatastropheClassifier(train.obs_dim), out / f"fall_{args.fault}_{args.seed}.pt"
        if clf_path.exists():
            clf.load_state_dict(torch.load(clf_path))
        else:
            print("catastrophe classifier", fit_catastrophe(clf, train.s_next, train.c, 10000, args.batch, rng))
            torch.save(clf.state_dict(), clf_path)
        frozen = StateJudged(frozen, FrozenCatastrophe(numpy_state(clf)))
    env = envs.make("HalfCheetah-Disabled", terminate_on_violation=True, max_episode_steps=1000)
    shield = ModelLookahead(frozen, policy, env.action_space.low, env.action_space.high,
                            LookaheadConfig(horizon=args.horizon, particles=args.particles, eps_risk=args.eps,
                                            candidates=args.candidates, sigma=args.sigma,
                                            perturbed_steps=args.perturbed), seed=args.seed)
    trace: list[float] = []  # the current episode's risk of a_task, step by step

    def guard(obs: np.ndarray, a_task: np.ndarray, shielded: bool) -> ShieldDecision:
        decision = shield(obs, a_task) if shielded else ShieldDecision(a_task, False, shield.risk_of(obs, a_task))
        trace.append(decision.risk)
        return decision

    env.reset(options={"task": {"power_scale": {args.fault: 0.0}}})  # the task stays for the episodes' resets
    for shielded in [mode == "shield" for mode in modes]:
        falls = steps = overrides = 0
        total, start, before, far = 0.0, time.time(), [], []
        for episode in range(args.episodes):
            trace.clear()
            stats = play_episode(env, policy, lambda s, a, on=shielded: guard(s, a, on), seed=args.first_seed + episode)
            falls, steps, total = falls + stats.violation, steps + stats.steps, total + stats.episode_return
            overrides += stats.overrides
            if stats.violation:
                before.append(trace[::-1][:16])
            far += trace[:-20] if stats.violation else trace
        print(f"{'shield' if shielded else 'no shield'}: {args.fault}, H {args.horizon}, eps {args.eps}: {falls} "
              f"falls in {args.episodes} episodes ({steps} steps, {falls / steps * 1000:.2f} per 1000), "
              f"return per 1000 steps {total / steps * 1000:.0f}, overrides {overrides / steps:.1%} "
              f"({time.time() - start:.0f} s)")
        if not shielded:
            print("  risk at steps before each fall (0 = the falling step):")
            for b in before:
                print("   ", " ".join(f"{x:.2f}" for x in b))
            print(f"  steps more than 20 before a fall with risk > eps: {np.mean(np.array(far) > args.eps):.1%}")


if __name__ == "__main__":
    main()
