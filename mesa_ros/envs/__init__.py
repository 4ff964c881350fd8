"""Gymnasium environments of the MESA paper with injectable dynamics changes (no ROS, no torch).

Importing this module registers them::

    import gymnasium as gym
    import mesa_ros.envs
    env = gym.make("mesa_ros/HalfCheetahDisabled-v0")
    env.unwrapped.set_power_scale("ffoot", 0.0)   # total power loss, at any step

Every environment reports ``info["c"]`` (constraint violated) and ``info["cost"]`` each step.
"""
from __future__ import annotations

import importlib

import gymnasium as gym

#: Paper name -> (gymnasium id, entry point, horizon).
ENVS: dict[str, tuple[str, str, int]] = {
    "HalfCheetah-Disabled": (
        "mesa_ros/HalfCheetahDisabled-v0",
        "mesa_ros.envs.half_cheetah:HalfCheetahDisabledEnv",
        1000,
    ),
    "Ant-Disabled": ("mesa_ros/AntDisabled-v0", "mesa_ros.envs.ant:AntDisabledEnv", 1000),
    "Cartpole-Length": ("mesa_ros/CartpoleLength-v0", "mesa_ros.envs.cartpole:CartpoleLengthEnv", 200),
    "Navigation-1": ("mesa_ros/Navigation1-v0", "mesa_ros.envs.navigation:make_navigation_1", 100),
    "Navigation-2": ("mesa_ros/Navigation2-v0", "mesa_ros.envs.navigation:make_navigation_2", 100),
}


def register_envs() -> None:
    """Register every environment with gymnasium (idempotent)."""
    for env_id, entry_point, horizon in ENVS.values():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=horizon)


def env_id(name: str) -> str:
    """Gymnasium id of a paper environment name (or of an id already)."""
    if name in ENVS:
        return ENVS[name][0]
    ids = {spec[0] for spec in ENVS.values()}
    if name in ids:
        return name
    raise ValueError(f"unknown environment {name!r}; expected one of {sorted(ENVS)}")


def env_class(name: str) -> type[gym.Env]:
    """The environment class of a paper name or gymnasium id (without constructing it)."""
    entry_point = gym.spec(env_id(name)).entry_point
    if not isinstance(entry_point, str):
        return entry_point
    module, attr = entry_point.split(":")
    return getattr(importlib.import_module(module), attr)


def model_joint_names(name: str) -> tuple[str, ...]:
    """The joints of a MuJoCo robot's model, in the model's (= ``qpos``/``qvel``) order, without building the env."""
    import mujoco

    from mesa_ros.paths import sim_asset

    model_file = getattr(env_class(name), "model_file", "")
    if not model_file:
        raise ValueError(f"{name} is not a MuJoCo robot: it has no joints to map")
    model = mujoco.MjModel.from_xml_path(str(sim_asset(model_file)))
    return tuple(model.joint(i).name for i in range(model.njnt))


def make(name: str, **kwargs) -> gym.Env:
    """``gym.make`` by paper name or gymnasium id."""
    return gym.make(env_id(name), **kwargs)


register_envs()
