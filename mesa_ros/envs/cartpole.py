"""Cartpole-Length (MESA paper, section 5): balance a pole whose length L differs between environments.

Task: ``{"pole_length": L}`` (metres, 0 < L <= 10). Training L ~ U(0.4, 0.8), test L = 1.0; default 0.6.
Model (``sim/cartpole.xml``): the reference code's physics (a motor of up to 300 N: the reference's gear
100 x ctrlrange [-3, 3], here gear 300 x [-1, 1]; a ~10.5 kg capsule cart; a capsule pole of radius
0.049 m at density 1000 kg/m^3 from the hinge to the tip, ~5-8 kg; damping 1 on both joints; RK4 at 0.02 s).
Changing L edits the pole geom with ``mujoco.MjSpec`` and recompiles (about 1 ms), so mass and inertia follow L.
The state (qpos, qvel) is kept, so L may change between episodes or mid-episode.

Time: physics step 0.02 s x frame skip 2 = dt 0.04 s (the reference's); 200 steps (the horizon) = 8 s.
Action: 1 value in [-1, 1] (clipped), force = 300 N x action on the cart (the reference: [-3, 3] x 100 N,
the same forces; uniform random actions have the same force distribution).
State: cart position x (m, slider range [-2.5, 2.5]), pole angle theta (rad, 0 = upright, unbounded).
Observation (5, float64): [x, sin(theta), cos(theta), x_dot, theta_dot]; never L.
Start: qpos, qvel ~ U(-0.01, 0.01) each (as the reference code), i.e. near upright at rest.
Reward: with tip = (x + L sin(theta), L cos(theta)) the pole tip in the rail's (x, z) frame (origin
at the hinge height at x = 0), r = exp(-|tip - (0, L)|^2 / L^2), evaluated after the step.
Constraint: |theta wrapped to (-pi, pi]| > pi/2 (pole below horizontal) or |x| >= 2.4, after the step.
Deviations from the reference code: the action normalised to [-1, 1] (same forces), sin/cos of the angle
in the observation (the reference observes the angle), a pole exactly vertical at angle 0 (the reference's tip
has a 0.001 m x offset), L fixed by the task (the committed reference redraws L at every reset unless
``init_length`` is given).
Rendering: ``render_mode=None`` only.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from mesa_ros.envs import mujoco_fault_env as _mujoco_log_config  # noqa: F401  (no MUJOCO_LOG.TXT)
from mesa_ros.envs.base import TaskEnvMixin, check_action, check_positive, check_split, check_task_keys, constraint_info
from mesa_ros.paths import sim_asset

FRAME_SKIP = 2
DEFAULT_POLE_LENGTH = 0.6
MAX_POLE_LENGTH = 10.0
TRAIN_POLE_LENGTHS = (0.4, 0.8)
TEST_POLE_LENGTH = 1.0
X_LIMIT = 2.4
THETA_LIMIT = math.pi / 2


class CartpoleLengthEnv(TaskEnvMixin, gym.Env):
    """MuJoCo cart-pole with a variable pole length and the paper's angle/position constraint."""

    family = "Cartpole-Length"
    metadata = {"render_modes": []}

    def __init__(
        self,
        task: Mapping[str, Any] | None = None,
        terminate_on_violation: bool = True,
        reset_noise_scale: float = 0.01,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"{self.family} supports render_mode=None only, got {render_mode!r}")
        self.render_mode = None
        self.terminate_on_violation = bool(terminate_on_violation)
        self.reset_noise_scale = float(reset_noise_scale)
        self._spec = mujoco.MjSpec.from_file(str(sim_asset("cartpole.xml")))
        self._pole = self._spec.geom("pole")
        self._pole_length = float(self._pole.fromto[5])
        self.model = self._spec.compile()
        self.data = mujoco.MjData(self.model)
        self.dt = self.model.opt.timestep * FRAME_SKIP
        low, high = self.model.actuator_ctrlrange[0]
        self.action_space = spaces.Box(float(low), float(high), shape=(1,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(5,), dtype=np.float64)
        self.set_task(task if task is not None else {"pole_length": DEFAULT_POLE_LENGTH})

    # -- task ------------------------------------------------------------------------------------
    @property
    def pole_length(self) -> float:
        return self._pole_length

    @property
    def task(self) -> dict[str, Any]:
        return {"pole_length": self._pole_length}

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Apply ``{"pole_length": L}``; rebuilds the model, keeping qpos and qvel."""
        task = check_task_keys(task, {"pole_length"}, self.family)
        if "pole_length" not in task:
            raise ValueError(f"{self.family} task needs 'pole_length', got {dict(task)!r}")
        length = check_positive("pole_length", task["pole_length"], 0.0, MAX_POLE_LENGTH)
        if length == self._pole_length:
            return
        old = self._pole.fromto.copy()
        self._pole.fromto = [0.0, 0.0, 0.0, 0.0, 0.0, length]
        try:
            self.model, self.data = self._spec.recompile(self.model, self.data)
        except Exception:
            self._pole.fromto = old
            raise
        mujoco.mj_forward(self.model, self.data)
        self._pole_length = length

    def sample_task(self, split: str, rng: np.random.Generator, partial: bool = False) -> dict[str, Any]:
        """Train: L ~ U(0.4, 0.8); test: L = 1.0. ``partial`` (a power-loss option) is rejected."""
        check_split(split)
        if partial:
            raise ValueError(f"partial=True (partial power loss) does not apply to {self.family}")
        if split == "train":
            return {"pole_length": float(rng.uniform(*TRAIN_POLE_LENGTHS))}
        return {"pole_length": TEST_POLE_LENGTH}

    # -- state -----------------------------------------------------------------------------------
    def set_state(self, qpos: Any, qvel: Any) -> None:
        """Set [x, theta] and [x_dot, theta_dot] (e.g. to start from a chosen state)."""
        qpos, qvel = np.asarray(qpos, dtype=np.float64), np.asarray(qvel, dtype=np.float64)
        if qpos.shape != (2,) or qvel.shape != (2,) or not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            raise ValueError(f"qpos and qvel must be 2 finite values each, got {qpos!r}, {qvel!r}")
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)

    def pole_tip(self) -> np.ndarray:
        """Pole tip (x, z) relative to the rail origin."""
        x, theta = self.data.qpos
        return np.array([x + self._pole_length * math.sin(theta), self._pole_length * math.cos(theta)])

    def constraint_violated(self) -> bool:
        """|theta| > pi/2 (theta wrapped to [-pi, pi]) or |x| >= 2.4 in the current state."""
        x, theta = (float(v) for v in self.data.qpos)
        return abs(math.remainder(theta, 2.0 * math.pi)) > THETA_LIMIT or abs(x) >= X_LIMIT

    def _get_obs(self) -> np.ndarray:
        (x, theta), (x_dot, theta_dot) = self.data.qpos, self.data.qvel
        return np.array([x, math.sin(theta), math.cos(theta), x_dot, theta_dot])

    # -- gymnasium API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        self._apply_reset_options(options)
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        noise = self.reset_noise_scale
        self.set_state(self.np_random.uniform(-noise, noise, 2), self.np_random.uniform(-noise, noise, 2))
        return self._get_obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        command = np.clip(check_action(action, self.action_space), self.action_space.low, self.action_space.high)
        self.data.ctrl[:] = command
        mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        tip = self.pole_tip()
        length = self._pole_length
        reward = math.exp(-((tip[0] ** 2 + (tip[1] - length) ** 2) / length**2))
        violation = self.constraint_violated()
        info = {"pole_tip": tip, **constraint_info(violation)}
        return self._get_obs(), reward, violation and self.terminate_on_violation, False, info
