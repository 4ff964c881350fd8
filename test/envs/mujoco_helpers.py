"""Helpers shared by the MuJoCo fault-environment tests."""
from __future__ import annotations

import numpy as np

from mesa_ros.envs.mujoco_fault_env import MujocoFaultEnv


def joint_force(env: MujocoFaultEnv, joint: str) -> float:
    """MuJoCo's actuator force on ``joint`` (qfrc_actuator at its dof)."""
    return float(env.data.qfrc_actuator[env.model.joint(joint).dofadr[0]])


def snapshot(env: MujocoFaultEnv) -> tuple:
    """Everything a rejected call must leave unchanged."""
    d = env.data
    return d.time, d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), env.power_scale


def assert_unchanged(before: tuple, after: tuple) -> None:
    assert before[0] == after[0]
    for a, b in zip(before[1:], after[1:]):
        np.testing.assert_array_equal(a, b)


def flipped(env: MujocoFaultEnv) -> None:
    """The Ant upside down (180 degrees about x), the torso just above the floor."""
    qpos = env.init_qpos.copy()
    qpos[2] = 0.3
    qpos[3:7] = [0.0, 1.0, 0.0, 0.0]
    env.set_state(qpos, np.zeros(env.model.nv))
