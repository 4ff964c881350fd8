"""Tasks (the environment parameters of a training or test environment): drawn, resolved, parsed."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from mesa_ros import envs
from mesa_ros.envs.base import SPLITS


def draw_tasks(env: str, split: str, count: int, seed: int, partial: bool = False) -> list[dict[str, Any]]:
    """``count`` distinct tasks from ``env``'s ``split`` distribution (``sample_task``; a duplicate is
    drawn again, up to 100 tries per task, so HalfCheetah's 4 training faults come out once each);
    ``partial``: the faults at a partial power k ~ U(0.5, 0.95) (the fault environments' ``sample_task``).

    Each split has its own random stream (seed, split), so the test task never repeats a training
    task's draw of the same seed (Navigation samples both splits from one distribution).
    """
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    e = envs.make(env)
    try:
        tasks: list[dict[str, Any]] = []
        tries = 0
        while len(tasks) < count:
            task = e.unwrapped.sample_task(split, rng, partial=True) if partial else e.unwrapped.sample_task(split, rng)
            tries += 1
            if task not in tasks or tries > 100 * count:
                tasks.append(task)
        return tasks
    finally:
        e.close()


def resolve_task(env: str, *candidates: Mapping[str, Any] | None, seed: int = 0) -> dict[str, Any]:
    """The first given task of ``candidates`` (e.g. --task, the checkpoint's, the test data's), else
    the test task ``draw_tasks`` gives for ``seed`` (the one ``mesa-ros collect --split test`` uses)."""
    for task in candidates:
        if task is not None:
            return dict(task)
    return draw_tasks(env, "test", 1, seed)[0]


def parse_task(text: str | None) -> dict[str, Any] | None:
    """A task given as JSON on the command line (None stays None)."""
    if text is None:
        return None
    try:
        task = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--task must be a JSON object like '{{\"B\": [1.2, 0.7]}}': {exc}") from None
    if not isinstance(task, dict):
        raise ValueError(f"--task must be a JSON object, got {text!r}")
    return task
