"""Scripted fault demo: the HalfCheetah runs a scripted gait, a joint loses power mid-run.

Prints return and constraint violations before and after the fault. Episodes end on a violation
(as in the paper) and restart; the fault persists across the restart, as a broken joint would.
"""
from __future__ import annotations

from dataclasses import dataclass

from mesa_ros.envs import make
from mesa_ros.envs.gait import sine_gait


@dataclass
class SegmentStats:
    """Totals of one part of the run (before or after the fault)."""

    name: str
    steps: int = 0
    episode_return: float = 0.0
    violations: int = 0
    episodes_started: int = 1

    def row(self) -> str:
        rate = self.episode_return / max(self.steps, 1)
        return (f"{self.name:<14} steps {self.steps:5d}  return {self.episode_return:9.1f} "
                f"({rate:+.2f}/step)  violations {self.violations:4d}  episodes {self.episodes_started:3d}")


def scripted_fault_demo(
    steps: int = 3000,
    fault_step: int = 1000,
    fault_joint: str = "ffoot",
    power_scale: float = 0.0,
    seed: int = 0,
) -> tuple[SegmentStats, SegmentStats]:
    """Run ``steps`` control steps; at ``fault_step`` set ``fault_joint``'s power to ``power_scale``."""
    if not 0 <= fault_step <= steps:
        raise ValueError(f"fault_step must be in [0, steps={steps}], got {fault_step}")
    env = make("HalfCheetah-Disabled")
    robot = env.unwrapped
    robot.set_power_scale(fault_joint, power_scale)  # validates the fault before anything runs
    robot.clear_faults()
    before, after = SegmentStats("before fault"), SegmentStats(f"after {fault_joint}={power_scale:g}")
    env.reset(seed=seed)
    phase = 0  # gait phase restarts with each episode
    for t in range(steps):
        if t == fault_step:
            robot.set_power_scale(fault_joint, power_scale)  # mid-episode, as a real fault
        segment = before if t < fault_step else after
        _, reward, terminated, truncated, info = env.step(sine_gait(phase))
        phase += 1
        segment.steps += 1
        segment.episode_return += float(reward)
        segment.violations += int(info["c"])
        if terminated or truncated:
            env.reset()
            phase = 0
            if t + 1 < steps:
                (before if t + 1 < fault_step else after).episodes_started += 1
    env.close()
    return before, after
