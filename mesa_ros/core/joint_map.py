"""Joint order by name, for a robot that speaks ros2_control: its ``JointState`` and a controller's command array
<-> the environment's order (ROS-free).

ros2_control's joint_state_broadcaster publishes the joints in the order of its hardware interfaces, may add
joints the safety layer does not model (a gripper, a camera pan), and a forward command controller
(``effort_controllers/JointGroupEffortController``, ``forward_command_controller``) takes
``std_msgs/Float64MultiArray`` values in the order of its own ``joints`` parameter. The safety layer works in
the environment's order: the model's joints for the observation (``observation_from(qpos, qvel)``), its
actuators for the action. ``JointMap`` builds the index maps once from names and checks them:

- every model joint must be in the robot's ``JointState`` (position and velocity); a missing one is an
  error naming it (the observation cannot be built without it: for the cheetah that includes the floating
  root, ``rootx``/``rootz``/``rooty``, which a real robot gets from a state estimator, not from encoders);
- extra joints are ignored; the order may differ from message to message (looked up per name tuple);
- the controller's ``joints`` must be exactly the model's actuators, in any order; a command must have
  one finite value per joint.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np


class JointMap:
    """Name-based maps between a robot's joint states / a controller's commands and the environment."""

    def __init__(self, env_joints: Sequence[str], env_actuators: Sequence[str],
                 command_joints: Sequence[str] | None = None) -> None:
        self.env_joints, self.env_actuators = tuple(env_joints), tuple(env_actuators)
        self.command_joints = tuple(command_joints) if command_joints else self.env_actuators
        missing = [j for j in self.env_actuators if j not in self.command_joints]
        extra = [j for j in self.command_joints if j not in self.env_actuators]
        if missing or extra or len(set(self.command_joints)) != len(self.command_joints):
            raise ValueError(f"the controller's joints {list(self.command_joints)} must be the actuators "
                             f"{list(self.env_actuators)} in any order (missing {missing}, unknown {extra})")
        # command value i (controller order) -> actuator self.to_env[i]
        self.to_env = np.array([self.env_actuators.index(j) for j in self.command_joints])
        self._state_index = lru_cache(maxsize=8)(self._index)

    def _index(self, names: tuple[str, ...]) -> np.ndarray:
        missing = [j for j in self.env_joints if j not in names]
        if missing:
            raise ValueError(f"joint state lacks {missing} (it has {list(names)}); the observation needs the "
                             f"position and velocity of every model joint {list(self.env_joints)}")
        return np.array([names.index(j) for j in self.env_joints])

    def state(self, names: Sequence[str], position: Sequence[float],
              velocity: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """(qpos, qvel) in the model's joint order from a JointState's fields; ``ValueError`` if a joint or a
        velocity is missing or a value is not finite."""
        index = self._state_index(tuple(names))
        position, velocity = np.asarray(position, dtype=np.float64), np.asarray(velocity, dtype=np.float64)
        if len(position) != len(names) or len(velocity) != len(names):
            raise ValueError(f"joint state has {len(names)} names but {len(position)} positions and "
                             f"{len(velocity)} velocities")
        qpos, qvel = position[index], velocity[index]
        if not (np.isfinite(qpos).all() and np.isfinite(qvel).all()):
            raise ValueError("joint state holds NaN or infinite values for model joints")
        return qpos, qvel

    def command_to_env(self, values: Sequence[float]) -> np.ndarray:
        """A controller command (its joint order) as an action in the environment's actuator order."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(self.command_joints),):
            raise ValueError(f"command has {values.size} values; the controller has {len(self.command_joints)} "
                             f"joints {list(self.command_joints)}")
        if not np.isfinite(values).all():
            raise ValueError(f"command holds NaN or infinite values: {values.tolist()}")
        action = np.empty_like(values)
        action[self.to_env] = values
        return action

    def env_to_command(self, action: np.ndarray) -> np.ndarray:
        """An action in the environment's actuator order as the controller's command array."""
        return np.asarray(action, dtype=np.float64)[self.to_env]
