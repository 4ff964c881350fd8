"""Does meta-learning make the adapted critic foresee the deployed policy's falls better? (issue #12, session 26)

For one held-out fault: the first N transitions of each post-fault dataset given (``--post KIND:SEED:PATH``, made by
``scripts/critic_foresight.sh``), each method's work on them as the adaptation node does it (MESA and Multi-Task:
phase 2 of their meta-trained checkpoints at the node's rate; RRL: its pretraining of a fresh critic, the config's
``adapt.pretrain_steps`` at ``adapt.pretrain_lr``; N = 0: the meta-trained critic as it is), then each critic's
foresight (``core.calibration.discrimination``: AUC of Q_risk(s, pi(s)), pi's deterministic action, for a violation
within 1-10 steps against the states further from one, warnings above eps_risk) on a long rollout of the
deterministic policy under the same fault (``--eval``). One JSON line per (kind, data seed, method, N) to ``--out``.

    python scripts/critic_foresight.py --mesa M --multitask T --policy P --eval E --post det:7:D7 ... --out F.jsonl
"""
from __future__ import annotations

import argparse
import copy
import json
import time

from mesa_ros.core import dataset
from mesa_ros.core.calibration import discrimination
from mesa_ros.core.config import merge
from mesa_ros.core.methods import adapt_stage, get_method
from mesa_ros.core.restore import load_checkpoint
from mesa_ros.core.safety_critic import SafetyCritic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mesa", required=True, help="MESA meta-trained checkpoint (without the held-out fault)")
    p.add_argument("--multitask", required=True, help="Multi-Task meta-trained checkpoint (same data)")
    p.add_argument("--policy", required=True, help="the deployed task policy's checkpoint (a' in Q_risk(s, pi(s)))")
    p.add_argument("--eval", required=True, help="the deterministic policy's rollout under the fault (labels)")
    p.add_argument("--post", nargs="+", required=True, metavar="KIND:SEED:PATH", help="post-fault datasets")
    p.add_argument("--sizes", type=int, nargs="+", default=[0, 100, 250, 1000], help="post-fault transitions N")
    p.add_argument("--methods", nargs="+", default=["mesa", "multitask", "rrl"], choices=["mesa", "multitask", "rrl"])
    p.add_argument("--lr", type=float, default=1e-4, help="phase-2 Adam rate (the adaptation node's default)")
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--out", required=True, help="JSON lines to append")
    args = p.parse_args()

    agent = load_checkpoint(args.policy).agent  # a' ~ pi(s') in training (as the node); pi's mean action in evaluation
    evaluation = dataset.load(args.eval)
    meta = {name: load_checkpoint(path) for name, path in (("mesa", args.mesa), ("multitask", args.multitask))}
    eps_risk = meta["mesa"].cfg.shield.eps_risk
    base = {"task": evaluation.metadata.task, "eval_transitions": len(evaluation),
            "eval_violations": evaluation.num_violations, "eps_risk": eps_risk, "lr": args.lr}

    def record(row: dict, critic: SafetyCritic) -> None:
        d = discrimination(critic, agent.mean_policy, evaluation, eps_risk, args.horizon)
        row = {**base, **row, **{k: getattr(d, k) for k in d.__dataclass_fields__}}
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['kind']:>13} seed {row['seed']} {row['method']:>9} N {row['n']:>4} "
              f"({row['post_violations']} viol.): AUC {d.auc:.3f}, warn {d.warn_positive:.0%} before / "
              f"{d.warn_negative:.1%} further", flush=True)

    if 0 in args.sizes:
        for name, run in meta.items():
            if name in args.methods:
                record({"kind": "none", "seed": -1, "method": name, "n": 0, "post_violations": 0}, run.critic)
    for spec in args.post:
        kind, seed, path = spec.split(":", 2)
        post = dataset.load(path)
        for n in sorted(s for s in args.sizes if s > 0):
            if n > len(post):
                raise ValueError(f"{path} has {len(post)} transitions, fewer than N = {n}")
            data = post.subset(slice(0, n))
            for name in args.methods:
                method = get_method(name)
                cfg = method.configure(meta["mesa" if name == "rrl" else name].cfg)
                if method.offline is not None:  # phase 2's rate; RRL pretrains at its own
                    cfg = merge(cfg, {"adapt": {"lr": args.lr}})
                offline = None if method.offline is None else copy.deepcopy(meta[name].offline_layer())
                start = time.monotonic()
                layer, _ = adapt_stage(method, cfg, *meta["mesa"].space, agent.policy, data, offline, seed=0)
                record({"kind": kind, "seed": int(seed), "method": name, "n": n,
                        "post_violations": data.num_violations, "adapt_s": round(time.monotonic() - start, 1)},
                       layer.critic)


if __name__ == "__main__":
    main()
