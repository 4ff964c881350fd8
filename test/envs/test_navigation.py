"""Navigation-1/2: obstacles, constraint, B changes dynamics not the observation, bad input (shared checks:
test_every_env.py)."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import mesa_ros.envs  # noqa: F401  (registers the environments)
from mesa_ros.envs.navigation import NavigationEnv

IDS = {1: "mesa_ros/Navigation1-v0", 2: "mesa_ros/Navigation2-v0"}


@pytest.fixture(params=[1, 2])
def env(request) -> NavigationEnv:
    e = NavigationEnv(layout=request.param)
    e.reset(seed=0)
    return e


def to_goal(obs: np.ndarray) -> np.ndarray:
    return np.clip(-obs, -1.0, 1.0)


def test_obstacles_are_the_papers_closed_rectangles() -> None:
    nav1, nav2 = NavigationEnv(layout=1), NavigationEnv(layout=2)
    inside_1 = [(-100, 5), (150, 10), (0, 7.5), (-90, 0), (-80, -10), (0, -5), (149.9, -9.9)]
    outside_1 = [(0, 4.99), (0, -4.99), (-79.99, 0), (150.01, 7), (0, 10.01), (-50, 0), (0, 0)]
    assert all(nav1.in_obstacle(p) for p in inside_1)
    assert not any(nav1.in_obstacle(p) for p in outside_1)
    inside_2 = [(-30, -7.5), (-20, 7.5), (-25, 0)]
    outside_2 = [(-30.01, 0), (-19.99, 0), (-25, 7.51), (-25, -7.51), (-50, 0), (0, 0), (0, 7)]
    assert all(nav2.in_obstacle(p) for p in inside_2)
    assert not any(nav2.in_obstacle(p) for p in outside_2)


@pytest.mark.parametrize(
    ("layout", "position", "action"),
    [
        (1, (0.0, 4.5), (0.0, 1.0)),  # into the upper wall
        (1, (-10.0, -4.6), (0.3, -1.0)),  # into the lower wall
        (1, (-79.5, 0.0), (-1.0, 0.0)),  # into the back wall
        (2, (-30.6, 3.0), (1.0, 0.0)),  # into the Navigation-2 wall
    ],
)
def test_constraint_fires_on_entering_an_obstacle(layout: int, position: tuple, action: tuple) -> None:
    e = NavigationEnv(layout=layout)
    e.reset(seed=0)
    e.set_state(position)
    assert not e.in_obstacle(position)
    obs, _, terminated, truncated, info = e.step(np.array(action))
    assert e.in_obstacle(obs)
    assert info["c"] is True and info["cost"] == 1.0 and terminated and not truncated


def test_a_point_inside_an_obstacle_stays_there_when_not_terminating() -> None:
    e = NavigationEnv(layout=2, terminate_on_violation=False)
    e.reset(seed=0)
    e.set_state((-30.6, 0.0))
    obs, *_ = e.step([1.0, 0.0])
    results = [e.step([-1.0, 1.0]) for _ in range(3)]
    assert all(info["c"] and not terminated for _, _, terminated, _, info in results)
    np.testing.assert_array_equal(results[-1][0], obs)


def test_goal_seeking_succeeds_without_violation_in_the_corridor() -> None:
    env = gym.make(IDS[1])
    obs, _ = env.reset(seed=0, options={"task": {"B": [0.8, 0.8]}})
    successes = []
    for _ in range(100):
        obs, _, terminated, truncated, info = env.step(to_goal(obs))
        assert not info["c"] and not terminated
        successes.append(info["success"])
    assert truncated  # the horizon is 100 steps
    assert successes[-1] and not successes[0] and np.linalg.norm(obs) <= 1.0


def test_the_direct_path_hits_the_navigation_2_wall_and_a_detour_does_not() -> None:
    env = gym.make(IDS[2])
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        obs, _, terminated, _, info = env.step(to_goal(obs))
        if terminated:
            break
    assert info["c"] and -30.0 <= obs[0] <= -28.0
    obs, _ = env.reset(seed=0)
    for _ in range(100):  # up over the wall, then to the goal
        action = [0.0, 1.0] if obs[0] < -20 and obs[1] < 9 else to_goal(obs)
        obs, _, terminated, truncated, info = env.step(action)
        assert not info["c"]
    assert info["success"]


def test_task_changes_dynamics_not_the_observation(env: NavigationEnv) -> None:
    action = np.array([0.8, -0.6])
    results = []
    for b in ([0.5, 0.5], [1.5, 1.0], [1.0, 1.5]):
        obs, _ = env.reset(seed=3, options={"task": {"B": b}})  # same start and noise
        results.append((obs, env.step(action)[0]))
    for before, _ in results[1:]:
        np.testing.assert_array_equal(before, results[0][0])
    after = [a for _, a in results]
    np.testing.assert_allclose(after[1] - after[0], [1.0 * 0.8, 0.5 * -0.6])  # exactly (B' - B) a
    np.testing.assert_allclose(after[2] - after[0], [0.5 * 0.8, 1.0 * -0.6])
    assert env.observation_space.shape == (2,) and after[0].dtype == np.float64


def test_dynamics_clip_the_action_and_add_small_noise(env: NavigationEnv) -> None:
    env.set_task({"B": [1.2, 0.7]})
    start, _ = env.reset(seed=5)
    clipped = env.step([1.0, -1.0])[0]
    env.reset(seed=5)
    np.testing.assert_array_equal(env.step([7.0, -3.0])[0], clipped)
    noise = clipped - start - [1.2, -0.7]
    assert 0.0 < np.abs(noise).max() < 0.25  # 0.05 N(0, I)


def test_noise_and_start_distribution(env: NavigationEnv) -> None:
    starts = np.array([env.reset(seed=s)[0] for s in range(200)])
    assert np.abs(starts.mean(axis=0) - [-50.0, 0.0]).max() < 0.25 and np.allclose(starts.std(axis=0), 1.0, atol=0.15)
    env.reset(seed=0)
    moves = []
    for _ in range(200):
        before = env.position
        moves.append(env.step([0.0, 0.0])[0] - before)
    assert np.allclose(np.mean(moves, axis=0), 0.0, atol=0.015) and np.allclose(np.std(moves, axis=0), 0.05, atol=0.01)


def test_reward_is_minus_the_distance_of_the_current_state(env: NavigationEnv) -> None:
    env.set_state((-3.0, 4.0))
    obs, reward, *_ = env.step([1.0, 0.0])
    assert reward == -5.0
    assert env.step([0.0, 0.0])[1] == pytest.approx(-np.linalg.norm(obs))


@pytest.mark.parametrize(("layout", "name"), [(1, "Navigation-1"), (2, "Navigation-2")])
def test_registered_ids_horizon_and_layouts(layout: int, name: str) -> None:
    env = mesa_ros.envs.make(name)
    assert env.spec.id == IDS[layout] and env.spec.max_episode_steps == 100
    assert env.unwrapped.layout == layout and env.unwrapped.family == name
    assert len(env.unwrapped.obstacles) == (3 if layout == 1 else 1)
    assert env.action_space.shape == (2,)


def test_sample_task_follows_paper_distributions(env: NavigationEnv) -> None:
    for split in ("train", "test"):
        draws = np.array([env.sample_task(split, np.random.default_rng(s))["B"] for s in range(300)])
        assert draws.shape == (300, 2) and draws.min() >= 0.5 and draws.max() <= 1.5 and draws.std() > 0.2
    assert env.sample_task("test", np.random.default_rng(4)) == env.sample_task("test", np.random.default_rng(4))
    with pytest.raises(ValueError, match="unknown split 'val'"):
        env.sample_task("val", np.random.default_rng(0))
    with pytest.raises(ValueError, match="partial=True .* does not apply to Navigation"):
        env.sample_task("test", np.random.default_rng(0), partial=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.set_task({"B": [1.0, 0.0]}), r"B\[1\] must be a finite number in \(0.0, inf\], got 0.0"),
        (lambda e: e.set_task({"B": [-1.0, 1.0]}), r"B\[0\] .* got -1.0"),
        (lambda e: e.set_task({"B": [math.nan, 1.0]}), r"B\[0\] .* got nan"),
        (lambda e: e.set_task({"B": [1.0, "x"]}), r"B\[1\] must be a number, got 'x'"),
        (lambda e: e.set_task({"B": [1.0, 1.0, 1.0]}), r"B must be the 2 diagonal entries \[b1, b2\]"),
        (lambda e: e.set_task({"B": 1.0}), r"B must be the 2 diagonal entries"),
        (lambda e: e.set_task({"B": [1.0, 1.0], "A": [1.0, 1.0]}), r"unknown Navigation-\d task key\(s\) \['A'\]"),
        (lambda e: e.set_task({}), r"Navigation-\d task needs 'B'"),
        (lambda e: e.reset(options={"B": [1.0, 1.0]}), r"unknown reset option\(s\) \['B'\]"),
        (lambda e: e.step(np.zeros(3)), r"action has shape \(3,\), expected \(2,\)"),
        (lambda e: e.step([math.nan, 0.0]), r"action contains NaN or inf at index \[0\]"),
        (lambda e: e.set_state([1.0, math.inf]), r"position must be 2 finite values"),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(env: NavigationEnv, call, message: str) -> None:
    env.set_task({"B": [0.7, 1.3]})
    env.step([0.5, 0.5])
    position, rng_state = env.position, env.np_random.bit_generator.state
    with pytest.raises(ValueError, match=message):
        call(env)
    np.testing.assert_array_equal(env.position, position)
    assert env.task == {"B": [0.7, 1.3]} and env.np_random.bit_generator.state == rng_state


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="unknown navigation layout 3"):
        NavigationEnv(layout=3)
    with pytest.raises(ValueError, match="render_mode=None only"):
        NavigationEnv(render_mode="rgb_array")
    assert NavigationEnv(task={"B": [0.6, 1.4]}).task == {"B": [0.6, 1.4]}
