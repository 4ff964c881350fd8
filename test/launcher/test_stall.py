"""A launch whose first state stalls is stopped with its nodes' stacks in the log (mesa_ros.stall); one that ends
gives its exit code; a later stall or a shorter wait is no start-up stall."""
from __future__ import annotations

import os
import sys
import time

from mesa_ros.stall import run_watched, stalled_at_start

STALLS = """
import faulthandler, os, signal, time
faulthandler.register(signal.SIGUSR1, all_threads=True)
print(f"[launcher] started fake_node (pid {os.getpid()})", flush=True)
print("[mujoco_sim] [ERROR] lockstep stalled: no command for the current state for 20 s (is the safety monitor "
      "running ...?); re-published it 40 times (step 0)", flush=True)
time.sleep(60)
"""


def test_a_launch_stalled_at_its_first_state_is_stopped_with_the_stacks_in_its_log(tmp_path) -> None:
    log = tmp_path / "launch.log"
    began = time.monotonic()
    assert run_watched([sys.executable, "-c", STALLS], log, os.environ, poll_s=0.1) is None
    assert time.monotonic() - began < 30  # stopped, not waited out
    text = log.read_text()
    dump, stopped = text.index("Current thread"), text.index("KeyboardInterrupt")
    assert 'File "<string>", line 7 in <module>' in text[dump:stopped]  # where the node waited (its sleep), dumped
    assert dump < stopped  # before the SIGINT that stops a launcher


def test_a_launch_that_ends_gives_its_exit_code_and_a_slow_one_times_out(tmp_path) -> None:
    log = tmp_path / "launch.log"
    assert run_watched([sys.executable, "-c", "print('done')"], log, os.environ, poll_s=0.1) == 0
    assert log.read_text() == "done\n"
    assert run_watched([sys.executable, "-c", "import sys; sys.exit(3)"], log, os.environ, poll_s=0.1) == 3
    assert run_watched([sys.executable, "-c", "import time; time.sleep(60)"], log, os.environ, timeout_s=1,
                       poll_s=0.1) is None


def test_only_the_first_states_wait_of_at_least_the_threshold_is_a_start_up_stall() -> None:
    line = "lockstep stalled: no command for the current state for {} s (...); re-published it 20 times (step {})"
    assert stalled_at_start(line.format(20, 0)) and stalled_at_start(line.format(40, 0))
    assert not stalled_at_start(line.format(10, 0))  # the first report: not yet
    assert not stalled_at_start(line.format(40, 1500))  # a stall later in the run is not one at start-up
