"""Ant-Disabled (MESA paper, section 5): one leg loses the power of both its actuators.

Legs and actuators (``sim/ant.xml``; x is forward; actuator index in brackets), as in the reference code:

====  ======================  ===============================  =====================
leg   actuators               MJCF body (gymnasium's name)     foot direction
====  ======================  ===============================  =====================
0     hip_1 [0], ankle_1 [1]  front_left_leg                   (+x, +y)
1     hip_2 [2], ankle_2 [3]  front_right_leg                  (-x, +y)
2     hip_3 [4], ankle_3 [5]  back_leg                         (-x, -y)
3     hip_4 [6], ankle_4 [7]  right_back_leg                   (+x, -y)
====  ======================  ===============================  =====================

Training faults: legs 0, 1, 2; test fault: leg 3. A fault sets the power scale of the leg's hip and
ankle to 0 (or k ~ U(0.5, 0.95) for partial loss); the task is the generic
``{"power_scale": {actuator: scale}}`` of :class:`~mesa_ros.envs.faults.PowerFaultMixin`.
Motors have gear 150 and control range [-1, 1].

Constraint: geom ``torso_geom`` touches ``floor``; the only cause of termination (when
``terminate_on_violation``): there is no "unhealthy z" termination as in gymnasium's Ant.

Reward (Ant-v5 without its contact cost): x velocity of the torso + 1.0 (constant healthy reward,
since the ant never terminates for being unhealthy) - 0.5 |a|^2 on the clipped commanded action.
The reference code uses 0.05 and 0.005 for these two weights; we keep gymnasium's Ant-v5 values.

Observation: qpos[2:] (13: torso z, orientation quaternion, 8 joint angles) + qvel (14) = 27 values,
Ant-v5 with ``include_cfrc_ext_in_observation=False`` (external contact forces are excluded). It never
contains the power scales.

Deviation from the reference: the reference also halves the size of the disabled leg's geoms (and
moves its lower geom), changing mass and shape; here a fault only removes power, so the robot's body
is the same in every task and the fault is a pure actuator fault, as for HalfCheetah-Disabled.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mesa_ros.envs.faults import check_power_scale
from mesa_ros.envs.mujoco_fault_env import MujocoFaultEnv

FORWARD_REWARD_WEIGHT = 1.0
HEALTHY_REWARD = 1.0
CTRL_COST_WEIGHT = 0.5

#: Actuators of each leg (hip, ankle), by leg index.
LEGS: tuple[tuple[str, str], ...] = (
    ("hip_1", "ankle_1"),
    ("hip_2", "ankle_2"),
    ("hip_3", "ankle_3"),
    ("hip_4", "ankle_4"),
)


class AntDisabledEnv(MujocoFaultEnv):
    """Ant with injectable per-actuator / per-leg power loss and a torso-floor contact constraint."""

    family = "Ant-Disabled"
    model_file = "ant.xml"
    constraint_geom = "torso_geom"
    observation_size = 27
    actuator_names = tuple(name for leg in LEGS for name in leg)
    train_faults = LEGS[:3]
    test_faults = (LEGS[3],)

    @staticmethod
    def leg_actuators(leg: Any) -> tuple[str, str]:
        """The (hip, ankle) actuator names of leg 0..3; ``ValueError`` for anything else."""
        if isinstance(leg, (int, np.integer)) and not isinstance(leg, bool) and 0 <= int(leg) < len(LEGS):
            return LEGS[int(leg)]
        raise ValueError(f"unknown leg {leg!r}; expected an integer 0..{len(LEGS) - 1}")

    def set_leg_power_scale(self, leg: int, scale: float) -> None:
        """Set the power scale of both actuators of ``leg`` (0 = the paper's disabled leg); any step."""
        hip, ankle = self.leg_actuators(leg)
        value = check_power_scale(f"leg {leg}", scale)
        self.set_power_scale(hip, value)
        self.set_power_scale(ankle, value)

    def _get_obs(self) -> np.ndarray:
        return np.concatenate((self.data.qpos[2:], self.data.qvel))

    def _reward(self, x_velocity: float, command: np.ndarray) -> tuple[float, dict[str, float]]:
        forward = FORWARD_REWARD_WEIGHT * float(x_velocity)
        ctrl_cost = CTRL_COST_WEIGHT * float(command @ command)
        reward = forward + HEALTHY_REWARD - ctrl_cost
        return reward, {"reward_forward": forward, "reward_survive": HEALTHY_REWARD, "reward_ctrl": -ctrl_cost}
