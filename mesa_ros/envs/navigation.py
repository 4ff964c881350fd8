"""Navigation-1 and Navigation-2 (MESA paper, section 5): a noisy 2-D point with unknown actuation gains.

Dynamics: x' = A x + B a + 0.05 N(0, I), A = I, B = diag(b1, b2), a clipped to [-1, 1]^2.
Task: ``{"B": [b1, b2]}`` (finite, > 0); b1, b2 ~ U(0.5, 1.5) independently for both the train and
the test split (the test environment is one unseen draw); default [1, 1].
Start (-50, 0) + N(0, I); goal (0, 0); horizon 100. Observation: the position (2, float64).
Reward: -|x - goal| for the state x the action is taken in (as the reference code).
``info["success"]``: the next state is within 1 of the goal (does not end the episode).
Obstacles, closed rectangles (xmin, xmax, ymin, ymax):
  Navigation-1: (-100, 150, 5, 10), (-100, -80, -10, 10), (-100, 150, -10, -5) (a corridor);
  Navigation-2: (-30, -20, -7.5, 7.5) (a wall between start and goal).
Constraint: the next state lies inside an obstacle. As in the reference code, a point inside an
obstacle stays there (only matters with ``terminate_on_violation=False``). All noise comes from
``self.np_random``, so ``reset(seed=...)`` makes episodes reproducible. Rendering: ``render_mode=None`` only.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mesa_ros.envs.base import TaskEnvMixin, check_action, check_positive, check_split, check_task_keys, constraint_info

Rect = tuple[float, float, float, float]

#: Obstacles per layout, as closed rectangles (xmin, xmax, ymin, ymax).
LAYOUTS: dict[int, tuple[Rect, ...]] = {
    1: ((-100.0, 150.0, 5.0, 10.0), (-100.0, -80.0, -10.0, 10.0), (-100.0, 150.0, -10.0, -5.0)),
    2: ((-30.0, -20.0, -7.5, 7.5),),
}
START = np.array([-50.0, 0.0])
GOAL = np.array([0.0, 0.0])
GOAL_RADIUS = 1.0
NOISE_SCALE = 0.05
B_RANGE = (0.5, 1.5)


class NavigationEnv(TaskEnvMixin, gym.Env):
    """2-D point navigation; ``layout`` 1 or 2 selects the obstacles of Navigation-1 or Navigation-2."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        layout: int = 1,
        task: Mapping[str, Any] | None = None,
        terminate_on_violation: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown navigation layout {layout!r}; expected one of {sorted(LAYOUTS)}")
        if render_mode is not None:
            raise ValueError(f"Navigation supports render_mode=None only, got {render_mode!r}")
        self.render_mode = None
        self.layout = layout
        self.family = f"Navigation-{layout}"
        self.obstacles = np.array(LAYOUTS[layout])
        self.terminate_on_violation = bool(terminate_on_violation)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self._b = np.ones(2)
        self._state = START.copy()
        if task is not None:
            self.set_task(task)

    # -- task ------------------------------------------------------------------------------------
    @property
    def task(self) -> dict[str, Any]:
        return {"B": self._b.tolist()}

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Apply ``{"B": [b1, b2]}`` (the diagonal of B)."""
        task = check_task_keys(task, {"B"}, self.family)
        if "B" not in task:
            raise ValueError(f"{self.family} task needs 'B', got {dict(task)!r}")
        diag = task["B"]
        if isinstance(diag, (str, bytes)) or not isinstance(diag, (Sequence, np.ndarray)) or len(diag) != 2:
            raise ValueError(f"B must be the 2 diagonal entries [b1, b2], got {diag!r}")
        self._b = np.array([check_positive(f"B[{i}]", value) for i, value in enumerate(diag)])

    def sample_task(self, split: str, rng: np.random.Generator, partial: bool = False) -> dict[str, Any]:
        """b1, b2 ~ U(0.5, 1.5) for either split. ``partial`` (a power-loss option) is rejected."""
        check_split(split)
        if partial:
            raise ValueError(f"partial=True (partial power loss) does not apply to {self.family}")
        return {"B": rng.uniform(*B_RANGE, size=2).tolist()}

    # -- state -----------------------------------------------------------------------------------
    @property
    def position(self) -> np.ndarray:
        return self._state.copy()

    def set_state(self, position: Any) -> None:
        """Place the point at ``position`` (2 finite values), e.g. to collect data near obstacles."""
        pos = np.asarray(position, dtype=np.float64)
        if pos.shape != (2,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"position must be 2 finite values, got {position!r}")
        self._state = pos.copy()

    def in_obstacle(self, position: Any) -> bool:
        """True when ``position`` lies in (or on the border of) an obstacle."""
        x, y = np.asarray(position, dtype=np.float64)
        o = self.obstacles
        return bool(np.any((o[:, 0] <= x) & (x <= o[:, 1]) & (o[:, 2] <= y) & (y <= o[:, 3])))

    # -- gymnasium API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        self._apply_reset_options(options)
        super().reset(seed=seed)
        self._state = START + self.np_random.standard_normal(2)
        return self._state.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(check_action(action, self.action_space), -1.0, 1.0)
        state = self._state
        reward = -float(np.linalg.norm(state - GOAL))
        if self.in_obstacle(state):
            next_state = state.copy()
        else:
            next_state = state + self._b * a + NOISE_SCALE * self.np_random.standard_normal(2)
        self._state = next_state
        violation = self.in_obstacle(next_state)
        info = {"success": bool(np.linalg.norm(next_state - GOAL) <= GOAL_RADIUS), **constraint_info(violation)}
        return next_state.copy(), reward, violation and self.terminate_on_violation, False, info


def make_navigation_1(**kwargs: Any) -> NavigationEnv:
    """Navigation-1: the corridor layout."""
    return NavigationEnv(layout=1, **kwargs)


def make_navigation_2(**kwargs: Any) -> NavigationEnv:
    """Navigation-2: one wall between start and goal."""
    return NavigationEnv(layout=2, **kwargs)
