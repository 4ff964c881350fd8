"""``mesa-ros calibration``: a checkpoint's Q_risk on a dataset (or a bag), by steps to the next violation.

Prints, per distance bin, the calibrated value (gamma_risk ** d), the median Q_risk with the
dataset's actions and with the checkpoint's task policy (its deterministic action, as deployed), and the share of
states where the shield would override (Q_risk(s, pi_task(s)) > eps_risk); then its foresight: the ROC AUC of
Q_risk(s, pi_task(s)) for a violation within ``--horizon`` steps against the states further from one (or with none
ahead), and the share of each above eps_risk (warnings in time, false alarms). See ``mesa_ros/core/calibration.py``.

Example::

    mesa-ros calibration --checkpoint runs/halfcheetah-disabled/offline/mesa_seed0.safetensors \\
        --data runs/halfcheetah-disabled/data/test.safetensors
"""
from __future__ import annotations

import argparse

from mesa_ros.cli.common import add_config_args, overrides, set_threads
from mesa_ros.core.calibration import calibration, discrimination
from mesa_ros.core.restore import load_checkpoint, load_datasets


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="Q_risk of a checkpoint against the steps to the next violation in a dataset",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint with a critic (meta-train, adapt, train-online)")
    p.add_argument("--data", required=True, help="dataset or bag of the checkpoint's environment")
    p.add_argument("--horizon", type=int, default=10,
                   help="foresight: states 1..HORIZON steps before a violation against those further from one "
                        "(default 10, 0.5 s at 20 Hz)")
    add_config_args(p, from_checkpoint=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args)
    if args.horizon < 1:
        raise ValueError(f"--horizon must be at least 1 step, got {args.horizon}")
    datasets = load_datasets([args.data])  # a bag gives one dataset per recorded fault
    loaded = load_checkpoint(args.checkpoint, env=datasets[0].metadata.env, preset=args.preset,
                             overrides=overrides(args))
    if loaded.critic is None:
        raise ValueError(f"checkpoint {args.checkpoint} holds no critic")
    eps_risk = loaded.cfg.shield.eps_risk
    for data in datasets:
        print(f"{args.checkpoint} on {args.data} ({data.metadata.task}: {len(data)} transitions, "
              f"{data.num_violations} violations), gamma_risk {loaded.cfg.critic.gamma_risk}, eps_risk {eps_risk}")
        print(f"{'steps to violation':>19} {'n':>6} {'calibrated':>11} {'Q(s,a)':>8} {'Q(s,pi)':>8} {'> eps_risk':>11}")
        for r in calibration(loaded.critic, loaded.agent.mean_policy, data, eps_risk):
            span = f"{r.low:.0f}" if r.low == r.high else f"{r.low:.0f}-{r.high:.0f}".replace("inf", "end")
            print(f"{span:>19} {r.count:>6} {r.ideal:>11.3f} {r.median_q:>8.3f} {r.median_q_policy:>8.3f} "
                  f"{r.above_eps:>11.0%}")
        d = discrimination(loaded.critic, loaded.agent.mean_policy, data, eps_risk, args.horizon)
        print(f"foresight, 1-{d.horizon} steps before a violation ({d.positives}) against the states further "
              f"from one ({d.negatives}): AUC {d.auc:.3f}; above eps_risk: {d.warn_positive:.0%} before, "
              f"{d.warn_negative:.1%} further")
    return 0
