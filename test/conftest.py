"""Test-wide isolation: every test run gets its own ROS 2 domain, discovery stays on localhost."""
from __future__ import annotations

import os
import random
import signal

import pytest

# Set before any rclpy context exists, and inherited by every node process a test starts.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
# Tests stop their subprocesses with Ctrl-C (SIGINT). A suite started in the background of a non-interactive
# shell (`./run.sh test &`, nohup) inherits SIGINT ignored, and so would every child: restore the default so
# that the children see Ctrl-C as a user's terminal sends it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for node subprocesses: the test run's ROS domain, unbuffered output."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}
