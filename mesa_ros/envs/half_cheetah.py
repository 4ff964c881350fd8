"""HalfCheetah-Disabled (MESA paper, section 5): a joint loses all or part of its power.

Training faults: bshin, bfoot, fthigh, fshin (actuators 1-4); test fault: ffoot (actuator 5).
Constraint: the ``head`` geom touches the ``floor``. Reward: forward velocity - 0.05 |a|^2 (the
reference code's control cost, on the commanded action). Observation: qpos[1:] (8) + qvel (9), as
HalfCheetah-v5; it never contains the power scales.
"""
from __future__ import annotations

import numpy as np

from mesa_ros.envs.mujoco_fault_env import MujocoFaultEnv

CTRL_COST_WEIGHT = 0.05


class HalfCheetahDisabledEnv(MujocoFaultEnv):
    """HalfCheetah with injectable per-actuator power loss and a head-floor contact constraint."""

    family = "HalfCheetah-Disabled"
    model_file = "half_cheetah.xml"
    constraint_geom = "head"
    observation_size = 17
    actuator_names = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
    train_faults = (("bshin",), ("bfoot",), ("fthigh",), ("fshin",))
    test_faults = (("ffoot",),)

    def _get_obs(self) -> np.ndarray:
        return self.observation_from(self.data.qpos, self.data.qvel)

    @staticmethod
    def observation_from(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """The observation of a state given as joint positions and velocities (drops rootx)."""
        return np.concatenate((qpos[1:], qvel))

    def _reward(self, x_velocity: float, command: np.ndarray) -> tuple[float, dict[str, float]]:
        ctrl_cost = CTRL_COST_WEIGHT * float(command @ command)
        return float(x_velocity) - ctrl_cost, {"reward_run": float(x_velocity), "reward_ctrl": -ctrl_cost}
