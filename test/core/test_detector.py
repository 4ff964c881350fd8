"""The change detector (core/detector.py): it notices a change of dynamics from transitions alone."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core import detector
from mesa_ros.core.config import DetectorConfig
from mesa_ros.detector_study import HEALTHY_TASK, policy_from, rollout
from mesa_ros.nodes.defaults import default_checkpoint

NAV = "Navigation-2"
NAV_CFG = DetectorConfig(hidden=(64, 64), steps=1500)
B_HEALTHY, B_CHANGED = {"B": [1.0, 1.0]}, {"B": [0.5, 1.0]}
NAV_BOUND = 10  # steps: a halved gain on one axis moves the point ~0.25 off per step against noise 0.05


def random_policy(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(-1.0, 1.0, 2)


def feed(found: detector.ChangeDetector, stream: detector.Stream) -> list[tuple[int, detector.Detection]]:
    """Every decision of ``found`` over ``stream``, with the index of the transition that made it."""
    return [(t, d) for t, row in enumerate(zip(*stream)) if (d := found.update(*row)) is not None]


@pytest.fixture(scope="module")
def navigation(tmp_path_factory) -> detector.ChangeDetector:
    """A detector fitted and calibrated on healthy Navigation-2 (B = I) random-policy transitions, via its file."""
    model = detector.fit_dynamics(rollout(NAV, random_policy(0), [(5000, B_HEALTHY)], seed=0), NAV_CFG, seed=0)
    streams = [rollout(NAV, random_policy(i), [(5000, B_HEALTHY)], seed=i) for i in (1, 2)]
    calibration = detector.calibrate(model, streams, NAV_CFG)
    path = detector.save(tmp_path_factory.mktemp("det") / "nav.safetensors", model, calibration, NAV, 2, 2, NAV_CFG)
    return detector.load(path, env=NAV)


def test_navigation_a_change_of_b_is_detected_within_the_bound_and_the_return_is_noticed(navigation):
    navigation.reset()
    stream = rollout(NAV, random_policy(7), [(300, B_HEALTHY), (200, B_CHANGED), (300, B_HEALTHY)], seed=7)
    decisions = feed(navigation, stream)
    assert [d.event for _, d in decisions] == [detector.CHANGED, detector.HEALTHY]
    (changed_at, found), (healthy_at, _) = decisions
    assert 300 <= changed_at < 300 + NAV_BOUND
    assert found.dimension == 0  # the axis whose gain changed
    assert 500 <= healthy_at < 500 + 3 * NAV_CFG.clear_steps


def test_navigation_healthy_steps_raise_no_alarm(navigation):
    navigation.reset()
    assert feed(navigation, rollout(NAV, random_policy(11), [(20_000, B_HEALTHY)], seed=11)) == []
    assert navigation.state == detector.HEALTHY and navigation.steps >= 20_000


def test_the_thresholds_come_from_healthy_data_only(navigation):
    c = navigation.calibration
    assert c.k == NAV_CFG.drift and c.h == pytest.approx(NAV_CFG.margin * max(c.max_healthy_cusum, c.k))
    assert c.h_clear == NAV_CFG.clear_steps * NAV_CFG.drift and c.calibration_steps == 10_000


CHEETAH = "HalfCheetah-Disabled"


@pytest.fixture(scope="module")
def cheetah() -> tuple[detector.ChangeDetector, object]:
    """The shipped detector and the shipped policy it was fitted for (scripts/make_demo_checkpoints.sh)."""
    return detector.load(default_checkpoint(CHEETAH, "detector"), env=CHEETAH), \
        policy_from(default_checkpoint(CHEETAH, "policy"), CHEETAH)


@pytest.mark.parametrize("joint", ["bthigh", "fshin"])
def test_cheetah_a_total_loss_is_detected_and_a_healthy_run_of_the_same_length_is_not(cheetah, joint):
    found, policy = cheetah
    found.reset()
    faulty = rollout(CHEETAH, policy, [(300, HEALTHY_TASK), (300, {"power_scale": {joint: 0.0}})], seed=3)
    decisions = feed(found, faulty)
    assert decisions and decisions[0][1].event == detector.CHANGED and 300 <= decisions[0][0] < 360
    found.reset()
    assert feed(found, rollout(CHEETAH, policy, [(600, HEALTHY_TASK)], seed=3)) == []


def test_a_transition_with_nan_scores_as_the_cap_and_nothing_breaks(cheetah):
    found, _ = cheetah
    found.reset()
    s = np.zeros(17)
    assert found.update(s, np.zeros(6), np.full(17, np.nan)) is None
    assert found.score == found.cfg.clip and np.isfinite(found.statistic)


def test_a_file_that_is_not_a_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="not a change-detector file"):
        detector.load(default_checkpoint(CHEETAH, "policy"))
    with pytest.raises(ValueError, match="detector state"):
        detector.ChangeDetector.reset(detector.load(default_checkpoint(CHEETAH, "detector")), "broken")
