"""The lookahead shield with its choice made blind (issue #12, ablation): when the model warns (risk of a_task >
eps_risk) the override is a uniformly random one of the K perturbed candidates instead of the least risky.

If this does as well as the shield, the model's value is its warning, not its ranking of candidates
(``scripts/rank_candidates.py`` measures that ranking directly). Same arguments as ``mesa-ros lookahead evaluate``:

    python scripts/random_pick.py --checkpoint runs/la/fold_bthigh_adapted_100_s250.safetensors \\
        --task '{"power_scale": {"bthigh": 0}}' --episodes 300 --seed 1 --modes shield --set lookahead.horizon=15
"""
from __future__ import annotations

import sys

import numpy as np

from mesa_ros.cli import main
from mesa_ros.core.lookahead import ModelLookahead


def blind_search(self: ModelLookahead, obs: np.ndarray, a_task: np.ndarray,
                 deadline: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    cand = self.candidates(a_task)
    return cand, np.full(len(cand), np.nan), int(self.rng.integers(1, len(cand)))


if __name__ == "__main__":
    ModelLookahead.search = blind_search
    sys.exit(main(["lookahead", "evaluate", *sys.argv[1:]]))
