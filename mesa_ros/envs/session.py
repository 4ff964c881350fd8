"""A simulation session: episodes of a fault environment on a sim clock, keyed for exact logging (no ROS).

Every published state gets a unique stamp on the sim clock (it advances by ``dt`` per step and per
reset), so a transition is keyed by the stamp of the state the action was chosen in: the state, the
task action, the executed command and the step outcome of one transition all carry that stamp, and
the outcome names the stamp of the next state. The ``mujoco_sim`` node publishes what this class
returns; the bag converter rebuilds transitions from the same keys.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mesa_ros.envs import make
from mesa_ros.envs.base import check_action


@dataclass(frozen=True)
class StampedState:
    """One state on the sim clock: joint positions/velocities/actuator torques in ``joint_names`` order."""

    stamp_ns: int
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray  # generalized actuator force on each joint (MuJoCo qfrc_actuator) of the last step
    episode: int
    step: int


@dataclass
class EpisodeTotals:
    """Totals of the simulator session's current or finished episode (the episode topic's values)."""

    episode: int
    steps: int = 0
    episode_return: float = 0.0
    violations: int = 0
    ended_by: str = ""  # "violation", "horizon" or "" while running


@dataclass(frozen=True)
class StepOutcome:
    """What one control step produced; ``reset_state`` is the next episode's first state after an end."""

    stamp_ns: int  # key: stamp of the state the action was applied in
    action: np.ndarray  # the command as applied (after validation, before clipping and power scale)
    next_state: StampedState
    reward: float
    cost: float
    terminated: bool
    truncated: bool
    finished_episode: EpisodeTotals | None
    reset_state: StampedState | None


class SimSession:
    """Runs episodes of a registered MuJoCo fault environment one command at a time."""

    def __init__(
        self,
        env: str = "HalfCheetah-Disabled",
        seed: int = 0,
        max_episode_steps: int = 1000,
        terminate_on_violation: bool = True,
        **env_kwargs: Any,
    ) -> None:
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.env: gym.Env = make(env, max_episode_steps=max_episode_steps,
                                 terminate_on_violation=terminate_on_violation, **env_kwargs)
        self.robot = self.env.unwrapped
        model = self.robot.model
        if not hasattr(self.robot, "observation_from") or model.nq != model.nv or model.njnt != model.nq:
            raise ValueError(f"{env}: the ROS state message (sensor_msgs/JointState) needs one scalar joint "
                             "per coordinate (hinge/slide joints) and an observation_from(qpos, qvel)")
        self.joint_names: tuple[str, ...] = tuple(model.joint(i).name for i in range(model.njnt))
        self.actuator_names: tuple[str, ...] = self.robot.actuator_names
        self.dt_ns = int(round(self.robot.dt * 1e9))
        self._seed = seed
        self._stamp_ns = 0
        self._episode = -1
        self.stats = EpisodeTotals(0)
        self.state = self._new_episode(seed=seed)

    # -- episode bookkeeping ---------------------------------------------------------------------
    def _snapshot(self) -> StampedState:
        data = self.robot.data
        return StampedState(self._stamp_ns, data.qpos.copy(), data.qvel.copy(), data.qfrc_actuator.copy(),
                            self._episode, self.stats.steps)

    def _new_episode(self, seed: int | None = None) -> StampedState:
        self.env.reset(seed=seed)
        self._episode += 1
        self.stats = EpisodeTotals(self._episode)
        return self._snapshot()

    def observation(self, state: StampedState) -> np.ndarray:
        """The environment's observation of ``state`` (what a policy sees)."""
        return self.robot.observation_from(state.position, state.velocity)

    def step(self, action: Any) -> StepOutcome:
        """Apply ``action`` in the current state; after an episode end, start the next episode."""
        command = check_action(action, self.env.action_space)
        key = self.state.stamp_ns
        _, reward, terminated, truncated, info = self.env.step(command)
        self._stamp_ns += self.dt_ns
        self.stats.steps += 1
        self.stats.episode_return += float(reward)
        self.stats.violations += int(info["c"])
        next_state = self._snapshot()
        finished = reset_state = None
        if terminated or truncated:
            self.stats.ended_by = "violation" if terminated else "horizon"
            finished = self.stats
            self._stamp_ns += self.dt_ns  # the reset state gets its own stamp
            reset_state = self._new_episode()
        self.state = reset_state or next_state
        return StepOutcome(key, command, next_state, float(reward), float(info["cost"]), bool(terminated),
                           bool(truncated), finished, reset_state)

    # -- faults (validated by the environment; invalid input raises ValueError, changes nothing) ----
    def set_power_scale(self, actuator: str | int, scale: float) -> None:
        self.robot.set_power_scale(actuator, scale)

    def set_faults(self, joints: Sequence[str], scales: float | Sequence[float]) -> None:
        """Exactly ``joints`` at power ``scales`` (one for all, or one per joint), every other actuator healthy."""
        if isinstance(scales, (int, float)) and not isinstance(scales, bool):
            per_joint = [scales] * len(joints)
        elif isinstance(scales, (list, tuple)):
            per_joint = list(scales)
        else:
            raise ValueError(f"fault.power_scales must be a number or a list of numbers, got {scales!r}")
        if len(per_joint) != len(joints):
            raise ValueError(f"fault.power_scales has {len(per_joint)} values for {len(joints)} joints {list(joints)}")
        if len(set(joints)) != len(joints):
            raise ValueError(f"fault.joints names a joint twice: {list(joints)}")
        self.robot.set_task({"power_scale": dict(zip(joints, per_joint))})

    def clear_faults(self) -> None:
        self.robot.clear_faults()

    def draw_fault(self, split: str, rng: np.random.Generator, partial: bool = False) -> dict[str, Any]:
        """Apply a fault drawn from the environment's train/test distribution; returns it."""
        task = self.robot.sample_task(split, rng, partial=partial)
        self.robot.set_task(task)
        return task

    @property
    def power_scale(self) -> np.ndarray:
        return self.robot.power_scale

    @property
    def task(self) -> Mapping[str, Any]:
        return self.robot.task

    def close(self) -> None:
        self.env.close()
