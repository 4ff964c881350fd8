"""Cartpole-Length: the pole length rebuilds the model, constraint, reward, invisibility, bad input (shared checks:
test_every_env.py)."""
from __future__ import annotations

import math

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import mesa_ros.envs  # noqa: F401  (registers the environments)
from mesa_ros.envs.cartpole import FRAME_SKIP, CartpoleLengthEnv

POLE_RADIUS, DENSITY = 0.049, 1000.0  # the reference's pole radius, MuJoCo's default density


@pytest.fixture
def env() -> CartpoleLengthEnv:
    e = CartpoleLengthEnv()
    e.reset(seed=0)
    yield e
    e.close()


def snapshot(env: CartpoleLengthEnv) -> tuple:
    return env.data.time, env.data.qpos.copy(), env.data.qvel.copy(), env.task


def lqr_gain(length: float) -> np.ndarray:
    """Discrete LQR gain K (u = -K [x, theta, x_dot, theta_dot]) of one environment step, linearised
    upright at rest by central finite differences of the model itself."""
    env = CartpoleLengthEnv({"pole_length": length})

    def step(state: np.ndarray, u: float) -> np.ndarray:
        env.set_state(state[:2], state[2:])
        env.data.ctrl[:] = u
        mujoco.mj_step(env.model, env.data, nstep=FRAME_SKIP)
        return np.concatenate([env.data.qpos, env.data.qvel])

    eps, zero = 1e-5, np.zeros(4)
    a = np.stack([(step(zero + eps * e, 0.0) - step(zero - eps * e, 0.0)) / (2 * eps) for e in np.eye(4)], axis=1)
    b = ((step(zero, eps) - step(zero, -eps)) / (2 * eps))[:, None]
    q, r, p = np.diag([1.0, 10.0, 1.0, 1.0]), np.array([[1.0]]), np.eye(4)
    for _ in range(2000):  # Riccati iteration to the fixed point
        k = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)
        p = q + a.T @ p @ (a - b @ k)
    return k


def balance(obs: np.ndarray, gain: np.ndarray) -> np.ndarray:
    x, sin, cos, x_dot, theta_dot = obs
    return np.clip(-gain @ [x, math.atan2(sin, cos), x_dot, theta_dot], -1.0, 1.0)


def pole_mass(length: float) -> float:
    return DENSITY * math.pi * POLE_RADIUS**2 * (length + 4.0 / 3.0 * POLE_RADIUS)


def test_model_carries_the_reference_physics(env: CartpoleLengthEnv) -> None:
    """michaelzhiluo/mesa-safe-rl env/assets/cartpole.xml: up to 300 N (gear 100 x ctrlrange +-3 there; gear 300
    x +-1 here), damping 1, RK4 at 0.02 s, frame skip 2, a capsule cart (r 0.1, half-length 0.1) and pole
    (r 0.049) at density 1000."""
    m = env.model
    slide = m.actuator("slide")
    assert slide.gear[0] * slide.ctrlrange[1] == 300.0 and list(slide.ctrlrange) == [-1.0, 1.0]
    assert list(env.action_space.low) == [-1.0] and list(env.action_space.high) == [1.0]
    assert list(m.dof_damping) == [1.0, 1.0] and m.opt.timestep == 0.02 and env.dt == pytest.approx(0.04)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert m.body_mass[m.body("cart").id] == pytest.approx(DENSITY * math.pi * 0.1**2 * (0.2 + 4 / 3 * 0.1))
    assert list(m.jnt_range[m.joint("slider").id]) == [-2.5, 2.5] and not m.jnt_limited[m.joint("hinge").id]
    env.set_task({"pole_length": 0.645})
    assert env.model.body_mass[m.body("pole").id] == pytest.approx(5.36, abs=0.01)  # "~5 kg" at the reference's L


@pytest.mark.parametrize("length", [0.4, 0.65, 1.0])
def test_pole_length_rebuilds_geometry_and_mass(env: CartpoleLengthEnv, length: float) -> None:
    env.set_task({"pole_length": length})
    m, pole = env.model, env.model.body("pole").id
    assert m.geom("pole").size[1] == pytest.approx(length / 2)  # capsule half-length
    assert m.body_mass[pole] == pytest.approx(pole_mass(length))  # a uniform rod: mass follows L
    assert m.body_ipos[pole] == pytest.approx([0.0, 0.0, length / 2])
    assert m.body_inertia[pole][0] > pole_mass(length) * length**2 / 12 * 0.95
    env.set_state([0.3, 0.7], [0.0, 0.0])  # the analytic tip is the end of the compiled pole geom
    hinge, centre = env.data.xpos[pole], env.data.geom_xpos[m.geom("pole").id]
    end = 2 * centre - hinge  # the capsule segment runs from the hinge through its centre to the tip
    np.testing.assert_allclose(env.pole_tip(), end[[0, 2]], atol=1e-12)


def test_changing_length_mid_episode_keeps_the_state(env: CartpoleLengthEnv) -> None:
    for _ in range(3):
        env.step([0.5])
    qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
    obs = env._get_obs()
    env.set_task({"pole_length": 0.45})
    np.testing.assert_array_equal(env.data.qpos, qpos)
    np.testing.assert_array_equal(env.data.qvel, qvel)
    np.testing.assert_array_equal(env._get_obs(), obs)
    assert env.pole_length == 0.45 and env.task == {"pole_length": 0.45}


def test_task_changes_dynamics_not_the_observation(env: CartpoleLengthEnv) -> None:
    pairs = []
    for length in (0.4, 0.8, 1.0):
        env.set_task({"pole_length": length})
        env.set_state([0.1, 0.2], [0.3, -0.4])
        pairs.append((env._get_obs(), env.step([0.6])[0]))
    for before, _ in pairs[1:]:
        np.testing.assert_array_equal(before, pairs[0][0])
    after = [a for _, a in pairs]
    assert not np.allclose(after[0], after[1]) and not np.allclose(after[1], after[2])
    assert env.observation_space.shape == (5,)


def test_task_persists_across_reset_and_reset_options_replace_it(env: CartpoleLengthEnv) -> None:
    env.set_task({"pole_length": 0.5})
    env.reset(seed=1)
    assert env.task == {"pole_length": 0.5}
    env.reset(seed=1, options={"task": {"pole_length": 1.0}})
    assert env.task == {"pole_length": 1.0}
    assert CartpoleLengthEnv(task={"pole_length": 0.7}).pole_length == 0.7
    assert CartpoleLengthEnv().pole_length == 0.6


@pytest.mark.parametrize(
    ("qpos", "qvel"),
    [
        ([0.0, math.pi / 2 + 0.05], [0.0, 0.0]),  # tilted past horizontal
        ([0.0, -math.pi / 2 - 0.05], [0.0, 0.0]),
        ([0.0, math.pi], [0.0, 0.0]),  # hanging down
        ([2.38, 0.0], [1.0, 0.0]),  # driven past x = 2.4
        ([-2.38, 0.0], [-1.0, 0.0]),
    ],
)
def test_constraint_fires(env: CartpoleLengthEnv, qpos: list, qvel: list) -> None:
    env.set_state(qpos, qvel)
    _, _, terminated, truncated, info = env.step([0.0])
    assert info["c"] is True and info["cost"] == 1.0
    assert terminated and not truncated


def test_constraint_boundaries_and_angle_wrapping(env: CartpoleLengthEnv) -> None:
    cases = {(2.4, 0.0): True, (2.3999, 0.0): False, (0.0, 1.57): False, (0.0, 1.5709): True,
             (0.0, 2 * math.pi + 0.1): False, (0.0, -2 * math.pi): False, (0.0, 3 * math.pi): True}
    for (x, theta), violated in cases.items():
        env.set_state([x, theta], [0.0, 0.0])
        assert env.constraint_violated() is violated, (x, theta)


@pytest.mark.parametrize("length", [0.4, 0.8, 1.0])
def test_lqr_keeps_the_pole_up_for_the_whole_horizon(length: float) -> None:
    """A hand-written LQR balances every pole length of the paper, the 1.0 m test pole included."""
    env, gain = gym.make("mesa_ros/CartpoleLength-v0"), lqr_gain(length)
    obs, _ = env.reset(seed=0, options={"task": {"pole_length": length}})
    rewards = []
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(balance(obs, gain))
        assert not info["c"] and not terminated
        rewards.append(reward)
    assert truncated  # the horizon is 200 steps
    assert np.mean(rewards) > 0.95 and abs(obs[0]) < 0.1


def test_random_actions_eventually_violate(env: CartpoleLengthEnv) -> None:
    rng = np.random.default_rng(0)
    costs = [env.step(rng.uniform(-1, 1, 1))[4]["cost"] for _ in range(100)]
    assert costs[0] == 0.0 and 1.0 in costs


def test_reward_definition(env: CartpoleLengthEnv) -> None:
    env.set_task({"pole_length": 0.5})
    env.set_state([0.0, 0.0], [0.0, 0.0])
    assert env.step([0.0])[1] == 1.0  # exactly upright at the origin stays there
    env.set_state([0.4, -0.3], [0.2, 0.5])
    _, reward, _, _, info = env.step([0.3])
    x, theta = env.data.qpos
    tip = np.array([x + 0.5 * math.sin(theta), 0.5 * math.cos(theta)])
    np.testing.assert_allclose(info["pole_tip"], tip)
    assert reward == pytest.approx(math.exp(-((tip[0] ** 2 + (tip[1] - 0.5) ** 2) / 0.25)))
    assert 0.0 < reward < 0.9


def test_start_is_near_upright_at_rest(env: CartpoleLengthEnv) -> None:
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert np.all(np.abs(env.data.qpos) <= 0.01) and np.all(np.abs(env.data.qvel) <= 0.01)
        assert obs[2] > 0.9999 and not np.array_equal(env.data.qpos, [0.0, 0.0])


def test_registered_horizon_spaces_and_timing() -> None:
    env = gym.make("mesa_ros/CartpoleLength-v0")
    assert env.spec.max_episode_steps == 200
    assert env.action_space.shape == (1,) and env.observation_space.shape == (5,)
    assert env.unwrapped.dt == pytest.approx(0.04)  # 200 steps = 8 s (the reference's dt)
    assert mesa_ros.envs.make("Cartpole-Length").spec.id == "mesa_ros/CartpoleLength-v0"


def test_sample_task_follows_paper_distributions(env: CartpoleLengthEnv) -> None:
    rng = np.random.default_rng(0)
    train = [env.sample_task("train", rng)["pole_length"] for _ in range(300)]
    assert 0.4 <= min(train) < 0.45 and 0.75 < max(train) <= 0.8
    assert env.sample_task("test", rng) == {"pole_length": 1.0}
    with pytest.raises(ValueError, match="unknown split 'val'"):
        env.sample_task("val", rng)
    with pytest.raises(ValueError, match="partial=True .* does not apply to Cartpole-Length"):
        env.sample_task("train", rng, partial=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.set_task({"pole_length": 0.0}), r"pole_length must be a finite number in \(0.0, 10.0\], got 0.0"),
        (lambda e: e.set_task({"pole_length": -0.5}), r"pole_length .* got -0.5"),
        (lambda e: e.set_task({"pole_length": math.nan}), r"pole_length .* got nan"),
        (lambda e: e.set_task({"pole_length": math.inf}), r"pole_length .* got inf"),
        (lambda e: e.set_task({"pole_length": 11.0}), r"pole_length .* got 11.0"),
        (lambda e: e.set_task({"pole_length": "long"}), r"pole_length must be a number, got 'long'"),
        (lambda e: e.set_task({"pole_length": 0.5, "mass": 1.0}), r"unknown Cartpole-Length task key\(s\) \['mass'\]"),
        (lambda e: e.set_task({}), r"Cartpole-Length task needs 'pole_length'"),
        (lambda e: e.set_task(0.5), r"task must be a mapping"),
        (lambda e: e.reset(options={"task": {"pole_length": -1}}), r"pole_length .* got -1"),
        (lambda e: e.step(np.zeros(2)), r"action has shape \(2,\), expected \(1,\)"),
        (lambda e: e.step(0.5), r"action has shape \(\), expected \(1,\)"),
        (lambda e: e.step([math.nan]), r"action contains NaN or inf at index \[0\]"),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(env: CartpoleLengthEnv, call, message: str) -> None:
    env.set_task({"pole_length": 0.7})
    env.step([0.4])
    before = snapshot(env)
    model = env.model
    with pytest.raises(ValueError, match=message):
        call(env)
    after = snapshot(env)
    assert before[0] == after[0] and before[3] == after[3]
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[2], after[2])
    assert env.model is model and env.model.geom("pole").size[1] == pytest.approx(0.35)
