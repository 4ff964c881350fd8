"""The lockstep simulator's wait for the adaptation node (core/lockstep.py): a command is applied only once the
step before it is acknowledged; after a resync ack the held command is dropped and asked for again; a missing ack
times out and the step goes ahead."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.lockstep import AdaptationSync

A, B = np.full(2, 0.1), np.full(2, 0.2)


def test_the_first_command_goes_through_and_each_later_one_waits_for_the_ack_of_the_step_before():
    sync = AdaptationSync(timeout_s=10.0)
    assert sync.command(A, now=0.0) is A  # nothing applied yet: nothing to wait for
    sync.applied(0)
    assert sync.command(B, now=1.0) is None  # held: step 0 not acknowledged
    assert sync.ack(-1, resync=False) == (None, False)  # an older ack changes nothing
    held, ask_again = sync.ack(0, resync=False)
    assert held is B and not ask_again  # acknowledged: the held command is applied now
    sync.applied(50)
    assert sync.ack(50, resync=False) == (None, False)  # the ack before the command: nothing held
    assert sync.command(A, now=2.0) is A  # and the command goes straight through


def test_a_resync_ack_drops_the_held_command_and_asks_for_the_states_command_again():
    sync = AdaptationSync(timeout_s=10.0)
    sync.applied(0)
    assert sync.command(A, now=0.0) is None  # answered before the shield came on
    assert sync.ack(0, resync=True) == (None, True)  # dropped: ask again
    assert sync.command(B, now=1.0) is B  # the answer after the change is applied


def test_without_an_ack_the_step_goes_ahead_after_the_timeout_and_is_counted():
    sync = AdaptationSync(timeout_s=5.0)
    sync.applied(0)
    assert sync.expire(now=100.0) is None  # nothing held yet: no clock running
    assert sync.command(A, now=10.0) is None
    assert sync.expire(now=14.9) is None and sync.timeouts == 0
    assert sync.expire(now=15.0) is A and sync.timeouts == 1
    assert sync.ready and sync.expire(now=30.0) is None  # counted once


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout must be > 0"):
        AdaptationSync(0.0)
