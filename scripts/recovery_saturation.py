"""How the recovery policy acts on a test dataset: saturation of its tanh output and its Q_risk against random actions.

For every checkpoint of an experiment directory (``checkpoints/*`` after phases 2 and 3, ``offline/*``
after the offline stage) that holds a safety layer: the share of pi_rec(s)'s action components at the
edge of the action box (|a| > 0.99 of the half-range), mean Q_risk(s, pi_rec(s)) and Q_risk(s, a_random)
with a uniform random action, and the share of states where pi_rec's risk is the lower, over the
states of the experiment's test dataset. A saturated (bang-bang) pi_rec is out of the data's
action distribution, where a low Q_risk is the critic's extrapolation, not evidence.

    python scripts/recovery_saturation.py runs/halfcheetah-disabled
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.restore import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment_dir", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = TransitionDataset.load(args.experiment_dir / "data" / "test.safetensors")
    obs = torch.as_tensor(test.s, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    print(
        "| checkpoint | saturated components | Q_risk(s, pi_rec(s)) | Q_risk(s, random a) "
        "| states where pi_rec is lower |"
    )
    print("|---|---|---|---|---|")
    paths = sorted((args.experiment_dir / "offline").glob("*.safetensors"))
    paths += sorted((args.experiment_dir / "checkpoints").glob("*.safetensors"))
    for path in paths:
        run = load_checkpoint(path)
        if run.safety is None:
            continue
        actor = run.safety.recovery.recovery_policy
        with torch.no_grad():
            action = run.safety.recovery(obs)
            unit = (action - actor.bias) / actor.scale  # in [-1, 1]
            random = actor.low + (actor.high - actor.low) * torch.rand(action.shape, generator=generator)
            q_rec, q_random = run.safety.critic(obs, action), run.safety.critic(obs, random)
        print(
            f"| {path.parent.name}/{path.name.removesuffix('.safetensors')} | {(unit.abs() > 0.99).float().mean():.2f} "
            f"| {q_rec.mean():.3f} | {q_random.mean():.3f} | {(q_rec < q_random).float().mean():.2f} |"
        )


if __name__ == "__main__":
    main()
