"""mujoco_sim's fault interface over DDS: services, parameters, the CLI twin; bad requests change nothing."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from std_srvs.srv import SetBool, Trigger

from sim_driver import COMMAND, GEARS, Driver, actuated

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"


@pytest.fixture(scope="module")
def driver(ros_env):
    d = Driver(ros_env)
    yield d
    log = d.close()
    assert "Traceback" not in log, log


def test_valid_service_call_changes_the_applied_torque(driver: Driver) -> None:
    np.testing.assert_allclose(actuated(driver.spin_steps(3)), GEARS * COMMAND)
    result = driver.call(SetBool, "/mujoco_sim/faults/ffoot/power_loss", SetBool.Request(data=True))
    assert result.success and result.message == "ffoot power scale set to 0"
    torque = actuated(driver.spin_steps(3))
    assert torque[5] == 0.0 and np.allclose(torque[:5], (GEARS * COMMAND)[:5])
    assert driver.fault_state["ffoot"] == 0.0

    assert driver.set_param("fault.power_scale", 0.5).successful
    assert driver.call(SetBool, "/mujoco_sim/faults/bshin/power_loss", SetBool.Request(data=True)).success
    assert actuated(driver.spin_steps(3))[1] == pytest.approx(0.5 * GEARS[1] * COMMAND[1])

    cleared = driver.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request())
    assert cleared.success and cleared.message == "all faults cleared"
    np.testing.assert_allclose(actuated(driver.spin_steps(3)), GEARS * COMMAND)

    assert driver.set_param("fault.power_scale", 0.0).successful
    drawn = driver.call(Trigger, "/mujoco_sim/faults/random", Trigger.Request())
    assert drawn.success and "drew test fault {'ffoot': 0.0}" in drawn.message  # the paper's test distribution
    assert actuated(driver.spin_steps(3))[5] == 0.0
    assert driver.set_param("fault.joints", ["fthigh"]).successful  # exact set: ffoot healthy again
    torque = actuated(driver.spin_steps(3))
    assert torque[3] == 0.0 and torque[5] == pytest.approx(GEARS[5] * COMMAND[5])

    events = len(driver.fault_events)
    same = driver.call(SetBool, "/mujoco_sim/faults/fthigh/power_loss", SetBool.Request(data=True))
    assert same.success and same.message.endswith("(no change: the power scales were already so)")
    driver.spin_steps(3)
    assert len(driver.fault_events) == events  # a request that changes nothing announces no fault change
    driver.call(Trigger, "/mujoco_sim/faults/clear", Trigger.Request())
    driver.spin_steps(3)
    assert driver.fault_events[events:] == ["clear"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("fault.joints", ["tail"], "unknown actuator/joint 'tail'"),
    ("fault.joints", ["ffoot", "knee"], "unknown actuator/joint 'knee'"),
    ("fault.power_scales", [0.5, 0.2, 0.1, 0.0, 0.3, 0.4, 0.9], "fault.power_scales has 7 values for"),
    ("fault.power_scales", [1.5], "power scale for 'bfoot' must be in [0, 1], got 1.5"),
    ("fault.power_scale", 1.5, "fault.power_scale out of range"),
    ("fault.power_scale", -0.2, "fault.power_scale out of range"),
    ("fault.power_scale", math.nan, "fault.power_scale out of range"),
    ("fault.distribution", "val", "fault.distribution must be one of ['train', 'test']"),
    ("mode", "realtime", "read-only parameter: mode"),
    ("fault.scheduled_joints", ["tail"], "fault.scheduled_joints: unknown joint(s) ['tail']"),
    ("fault.scheduled_step", 0, "fault.scheduled_step 0 has passed: the simulator is at step"),
])
def test_invalid_requests_are_rejected_and_change_nothing(driver: Driver, name: str, value, message: str) -> None:
    assert driver.set_param("fault.joints", ["bfoot"]).successful
    before = dict(driver.fault_state)
    result = driver.set_param(name, value)
    assert not result.successful and message in result.reason
    torque = actuated(driver.spin_steps(3))  # still stepping: nothing crashed
    assert torque[2] == 0.0 and np.count_nonzero(torque == 0.0) == 1
    assert driver.fault_state == before


def test_cli_injects_and_rejects(driver: Driver, ros_env) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(MESA_ROS), "fault", *args], env=ros_env, capture_output=True, text=True, timeout=60)

    assert driver.set_param("fault.joints", [""]).successful
    ok = cli("fshin", "--power-scale", "0.25")
    assert ok.returncode == 0 and "fshin power scale set to 0.25" in ok.stdout
    assert actuated(driver.spin_steps(3))[4] == pytest.approx(0.25 * GEARS[4] * COMMAND[4])
    unknown = cli("tail")
    assert unknown.returncode == 2 and "unknown joint 'tail'" in unknown.stdout
    offered = "['bfoot', 'bshin', 'bthigh', 'ffoot', 'fshin', 'fthigh']"
    assert f"mujoco_sim offers {offered}" in unknown.stdout, unknown.stdout  # not this tool's own 'tail' client
    bad = cli("ffoot", "--power-scale", "nan")
    assert bad.returncode == 2 and "power scale for 'fault.power_scale' is NaN" in bad.stdout
    assert actuated(driver.spin_steps(3))[5] != 0.0  # the rejected calls changed nothing
    assert cli("clear").returncode == 0
    driver.spin_steps(3)
    events = len(driver.fault_events)
    compound = cli("bshin:0.5", "fthigh:0")
    assert (
        compound.returncode == 0
        and "compound fault set: bshin power scale 0.5, fthigh power scale 0" in compound.stdout
    )
    torque = actuated(driver.spin_steps(3))
    assert torque[1] == pytest.approx(0.5 * GEARS[1] * COMMAND[1]) and torque[3] == 0.0
    assert torque[5] == pytest.approx(GEARS[5] * COMMAND[5])
    assert driver.fault_events[events:] == ["fault"]  # one change, one announcement
    for args, message in ((("bshin:0.5", "knee:0"), "unknown actuator/joint 'knee'"),
                          (("bshin:1.5", "fthigh:0"), "power scale for 'bshin' must be in [0, 1], got 1.5"),
                          (("bshin:half", "fthigh"), "power scale for 'bshin' must be a number in [0, 1], got 'half'")):
        bad = cli(*args)
        assert bad.returncode == 2 and message in bad.stdout, bad.stdout
    assert actuated(driver.spin_steps(3))[3] == 0.0 and driver.fault_events[events:] == ["fault"]  # unchanged
    assert cli("clear").returncode == 0
