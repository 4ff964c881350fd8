"""Both offline stages of a method in one call, for tests (the CLI runs them as ``meta-train`` then ``adapt``)."""
from __future__ import annotations

from collections.abc import Sequence

from gymnasium import spaces

from mesa_ros.core.adaptation import OnLog
from mesa_ros.core.config import MesaConfig
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.methods import Method, adapt_stage, get_method, offline_stage
from mesa_ros.core.safety_critic import TaskPolicy
from mesa_ros.core.safety_layer import SafetyLayer


def build(method: Method | str, cfg: MesaConfig, observation_space: spaces.Box, action_space: spaces.Box,
          task_policy: TaskPolicy, train_data: Sequence[TransitionDataset] = (),
          test_data: TransitionDataset | None = None, *, seed: int = 0, progress: bool = False,
          on_log: OnLog | None = None) -> SafetyLayer | None:
    """Both stages in one process (the same calls, hence the same result, as ``meta-train --recovery-data``
    then ``adapt``); ``cfg`` should come from ``method.configure``. None for a method without a layer.
    The offline stage's pi_rec trains on ``test_data``, as the reference's."""
    method = get_method(method) if isinstance(method, str) else method
    layer = offline_stage(method, cfg, observation_space, action_space, task_policy, train_data, test_data,
                          seed=seed, progress=progress, on_log=on_log)
    return adapt_stage(method, cfg, observation_space, action_space, task_policy, test_data, layer, seed=seed)[0]
