"""A MuJoCo locomotion environment with actuator power faults and a body-floor contact constraint.

Base of HalfCheetah-Disabled and Ant-Disabled. The action is checked (shape, NaN), clipped to the
actuator control range, multiplied by the power scale of each actuator and applied for
``frame_skip`` physics steps. ``info["c"]`` is True when the constraint geom touches the floor after
the step; the episode terminates then when ``terminate_on_violation`` (the default, as in the paper).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv

from mesa_ros.envs.base import check_action, constraint_info
from mesa_ros.envs.faults import PowerFaultMixin
from mesa_ros.paths import sim_asset

# MuJoCo appends warnings to MUJOCO_LOG.TXT in the working directory by default; keep them on the console.
_log_config = mujoco.MjLogConfig.get()
_log_config.logto_file = False
mujoco.MjLogConfig.set(_log_config)


class MujocoFaultEnv(PowerFaultMixin, MujocoEnv):
    """Locomotion with injectable per-actuator power loss; subclasses define model and observation."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"]}
    model_file: str = ""
    frame_skip_default: int = 5
    #: Geom whose contact with ``floor`` is the constraint violation.
    constraint_geom: str = ""
    observation_size: int = 0

    def __init__(
        self,
        fault: Mapping[str, Any] | None = None,
        terminate_on_violation: bool = True,
        reset_noise_scale: float = 0.1,
        render_mode: str | None = None,
        **mujoco_kwargs: Any,
    ) -> None:
        self.terminate_on_violation = bool(terminate_on_violation)
        self.reset_noise_scale = float(reset_noise_scale)
        obs_space = spaces.Box(-np.inf, np.inf, shape=(self.observation_size,), dtype=np.float64)
        MujocoEnv.__init__(
            self,
            str(sim_asset(self.model_file)),
            self.frame_skip_default,
            observation_space=obs_space,
            render_mode=render_mode,
            **mujoco_kwargs,
        )
        names = tuple(self.model.actuator(i).name for i in range(self.model.nu))
        if names != self.actuator_names:
            raise RuntimeError(f"{self.model_file}: actuators {names} != expected {self.actuator_names}")
        self.metadata["render_fps"] = int(np.round(1.0 / self.dt))
        geom, floor = self.model.geom(self.constraint_geom).id, self.model.geom("floor").id
        self._constraint_pairs = frozenset({(geom, floor), (floor, geom)})
        self._ctrl_low, self._ctrl_high = self.model.actuator_ctrlrange.T.copy()
        self._init_faults()
        if fault is not None:
            self.set_task(fault)

    # -- gymnasium API -------------------------------------------------------------------------
    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        command = check_action(action, self.action_space).clip(self._ctrl_low, self._ctrl_high)
        x_before = self.data.qpos[0]
        self.data.ctrl[:] = command * self._power_scale
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        x_velocity = (self.data.qpos[0] - x_before) / self.dt
        reward, reward_info = self._reward(x_velocity, command)
        violation = self.constraint_violated()
        if self.render_mode == "human":
            self.render()
        info = {"x_velocity": x_velocity, **reward_info, **constraint_info(violation)}
        return self._get_obs(), reward, violation and self.terminate_on_violation, False, info

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        self._apply_reset_options(options)
        return super().reset(seed=seed)

    def reset_model(self) -> np.ndarray:
        noise = self.reset_noise_scale
        qpos = self.init_qpos + self.np_random.uniform(-noise, noise, size=self.model.nq)
        qvel = self.init_qvel + noise * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    # -- constraint ----------------------------------------------------------------------------
    def constraint_violated(self) -> bool:
        """True when the constraint geom is in contact with the floor in the current state."""
        # a handful of contacts: plain Python on the list is ~6x faster than numpy on tiny arrays
        return any(tuple(pair) in self._constraint_pairs for pair in self.data.contact.geom.tolist())

    # -- to be defined by the robot --------------------------------------------------------------
    def _get_obs(self) -> np.ndarray:
        raise NotImplementedError

    def _reward(self, x_velocity: float, command: np.ndarray) -> tuple[float, dict[str, float]]:
        raise NotImplementedError
