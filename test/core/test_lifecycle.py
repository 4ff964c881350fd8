"""The adaptation life cycle without ROS: phases, which transitions count, stale replies."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesa_ros.core.lifecycle import Effect, Lifecycle, Phase


def drive_to_shielding(lc: Lifecycle, stamp: int, needed: int) -> int:
    """A fault at ``stamp``, ``needed`` accepted transitions, phase 2, weights in use, enabled; next stamp."""
    assert lc.fault(stamp)[-1] is Effect.RESET_BUFFER
    for k in range(needed):
        assert lc.accepts(stamp + k)
        effects = lc.added(1)
    assert effects == [Effect.RUN_PHASE2] and lc.phase is Phase.ADAPTING
    assert lc.phase2_done(lc.epoch) == [Effect.SEND_WEIGHTS]
    assert lc.weights_in_use(lc.epoch) == [Effect.ARM]
    assert lc.enabled(lc.epoch, True) == [] and lc.phase is Phase.SHIELDING
    return stamp + needed


def test_the_paper_sequence_monitoring_to_shielding_then_online_learning():
    lc = Lifecycle(3)
    assert lc.phase is Phase.MONITORING and not lc.accepts(0) and lc.added(5) == []
    stamp = drive_to_shielding(lc, 100, 3)
    assert lc.accepts(stamp) and lc.added(2) == [Effect.LEARN_ONLINE]


def test_a_second_fault_while_shielding_disarms_restores_and_collects_anew():
    lc = Lifecycle(3)
    stamp = drive_to_shielding(lc, 100, 3)
    effects = lc.fault(stamp + 50)
    assert effects == [Effect.DISARM, Effect.RESTORE_OFFLINE, Effect.RESET_BUFFER]
    assert lc.phase is Phase.COLLECTING and lc.collected == 0
    assert not lc.accepts(stamp + 49) and lc.accepts(stamp + 50)
    assert lc.added(2) == [] and lc.added(1) == [Effect.RUN_PHASE2]


def test_a_new_fault_while_collecting_drops_what_was_collected():
    lc = Lifecycle(10)
    lc.fault(0)
    lc.added(9)
    assert lc.fault(20) == [Effect.RESET_BUFFER]  # nothing armed or adapted yet
    assert lc.collected == 0 and not lc.accepts(19)
    assert lc.added(9) == [] and lc.phase is Phase.COLLECTING


def test_healthy_again_returns_to_the_pre_fault_state():
    lc = Lifecycle(2)
    assert lc.healthy(0) == []  # nothing to clear
    stamp = drive_to_shielding(lc, 10, 2)
    assert lc.healthy(stamp) == [Effect.DISARM, Effect.RESTORE_OFFLINE, Effect.RESET_BUFFER]
    assert lc.phase is Phase.MONITORING and not lc.accepts(stamp + 1) and lc.added(3) == []
    assert not lc.armed and not lc.adapted


def test_healthy_while_collecting_only_drops_the_buffer():
    lc = Lifecycle(5)
    lc.fault(0)
    lc.added(3)
    assert lc.healthy(4) == [Effect.RESET_BUFFER] and lc.phase is Phase.MONITORING


def test_replies_of_an_older_epoch_are_ignored_or_taken_back():
    lc = Lifecycle(1)
    lc.fault(0)
    assert lc.added(1) == [Effect.RUN_PHASE2]
    old = lc.epoch
    assert lc.phase2_done(old) == [Effect.SEND_WEIGHTS]
    lc.fault(5)  # the dynamics change before the monitor reports the weights in use
    assert lc.weights_in_use(old) == [] and lc.phase is Phase.COLLECTING
    lc.added(1)
    assert lc.phase2_done(old) == []  # a stale completion never sends weights
    assert lc.phase2_done(lc.epoch) == [Effect.SEND_WEIGHTS]
    assert lc.weights_in_use(lc.epoch) == [Effect.ARM]
    assert lc.enabled(old, True) == []  # stale, but the current epoch is arming: leave it
    assert lc.enabled(lc.epoch, True) == [] and lc.phase is Phase.SHIELDING


def test_a_stale_enable_that_lands_after_a_fault_change_is_disarmed():
    lc = Lifecycle(1)
    lc.fault(0)
    lc.added(1)
    lc.phase2_done(lc.epoch)
    assert lc.weights_in_use(lc.epoch) == [Effect.ARM]
    old = lc.epoch
    assert lc.healthy(3) == [Effect.DISARM, Effect.RESTORE_OFFLINE, Effect.RESET_BUFFER]
    assert lc.enabled(old, True) == [Effect.DISARM]
    assert lc.phase is Phase.MONITORING


def test_a_refused_enable_leaves_the_shield_unarmed():
    lc = Lifecycle(1)
    lc.fault(0)
    lc.added(1)
    lc.phase2_done(lc.epoch)
    lc.weights_in_use(lc.epoch)
    assert lc.enabled(lc.epoch, False) == [Effect.ARM]  # asked once more (the weights are not reported again)
    assert lc.enabled(lc.epoch, False) == [] and lc.phase is Phase.ADAPTING and not lc.armed
    assert lc.weights_in_use(lc.epoch) == [Effect.ARM]  # a later report of the weights (new ones) tries again


def test_armed_at_the_fault_the_offline_layer_shields_until_the_adapted_weights_are_in_use():
    lc = Lifecycle(2, arm_offline=True)
    assert lc.fault(0) == [Effect.RESET_BUFFER, Effect.ARM] and lc.armed
    assert lc.enabled(lc.epoch, True) == [] and lc.phase is Phase.COLLECTING  # on, with the offline layer
    assert lc.added(1) == [] and lc.added(1) == [Effect.RUN_PHASE2]  # collecting goes on under the shield
    assert lc.phase2_done(lc.epoch) == [Effect.SEND_WEIGHTS]
    assert lc.weights_in_use(lc.epoch) == [] and lc.phase is Phase.SHIELDING  # already on: no second enable
    assert lc.added(1) == [Effect.LEARN_ONLINE]
    assert lc.fault(10) == [Effect.DISARM, Effect.RESTORE_OFFLINE, Effect.RESET_BUFFER, Effect.ARM]
    assert lc.healthy(20) == [Effect.DISARM, Effect.RESET_BUFFER] and not lc.armed  # nothing adapted yet


def test_armed_at_the_fault_a_late_or_refused_enable_still_ends_shielding():
    lc = Lifecycle(1, arm_offline=True)
    lc.fault(0)
    lc.added(1)
    lc.phase2_done(lc.epoch)
    assert lc.weights_in_use(lc.epoch) == [] and lc.phase is Phase.ADAPTING  # the enable is not answered yet
    assert lc.enabled(lc.epoch, True) == [] and lc.phase is Phase.SHIELDING
    refused = Lifecycle(1, arm_offline=True)
    refused.fault(0)
    assert refused.enabled(refused.epoch, False) == [] and not refused.armed
    refused.added(1)
    refused.phase2_done(refused.epoch)
    assert refused.weights_in_use(refused.epoch) == [Effect.ARM]  # asked again with the adapted weights
    assert refused.enabled(refused.epoch, True) == [] and refused.phase is Phase.SHIELDING


def test_armed_at_the_fault_an_enable_refused_after_the_weights_are_in_use_is_asked_again_once():
    lc = Lifecycle(1, arm_offline=True)
    lc.fault(0)
    lc.added(1)
    lc.phase2_done(lc.epoch)
    assert lc.weights_in_use(lc.epoch) == []  # the enable sent at the fault is still unanswered
    assert lc.enabled(lc.epoch, False) == [Effect.ARM] and lc.armed  # refused: asked again, the adapted weights in use
    assert lc.enabled(lc.epoch, True) == [] and lc.phase is Phase.SHIELDING
    again = Lifecycle(1, arm_offline=True)
    again.fault(0)
    again.added(1)
    again.phase2_done(again.epoch)
    again.weights_in_use(again.epoch)
    assert again.enabled(again.epoch, False) == [Effect.ARM]
    assert again.enabled(again.epoch, False) == [] and not again.armed  # only once: no loop of refusals


def test_rejects_a_non_positive_transition_count():
    with pytest.raises(ValueError, match="transitions_needed"):
        Lifecycle(0)


EVENTS = st.lists(st.sampled_from(["fault", "healthy", "step", "phase2", "in_use", "enabled", "refused",
                                   "stale_enabled"]), max_size=60)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.booleans())
def test_any_event_sequence_keeps_the_invariants(events, arm_offline):
    """Only transitions of the current dynamics reach phase 2, and no shield outlives its fault."""
    lc, stamp, buffer, fault_since = Lifecycle(3, arm_offline), 0, [], None
    monitor_armed = False  # what the monitor would do with the effects, in order
    for event in events:
        stamp += 1
        old_epoch = lc.epoch - 1
        if event == "fault":
            effects, fault_since = lc.fault(stamp), stamp
        elif event == "healthy":
            effects, fault_since = lc.healthy(stamp), None
        elif event == "step":
            effects = []
            if lc.accepts(stamp):
                buffer.append(stamp)
                effects = lc.added(1)
        elif event == "phase2":
            effects = lc.phase2_done(lc.epoch)
        elif event == "in_use":
            effects = lc.weights_in_use(lc.epoch)
        elif event in ("enabled", "refused"):
            effects = lc.enabled(lc.epoch, event == "enabled") if lc.armed else []
            monitor_armed = monitor_armed or (event == "enabled" and lc.armed)
        else:
            effects = lc.enabled(old_epoch, True)
        for effect in effects:
            if effect is Effect.RESET_BUFFER:
                buffer = []
            elif effect is Effect.DISARM:
                monitor_armed = False
            elif effect is Effect.RUN_PHASE2:
                assert len(buffer) >= 3 and all(s >= fault_since for s in buffer)
            elif effect is Effect.ARM:
                assert lc.phase is Phase.ADAPTING or arm_offline and lc.phase is Phase.COLLECTING
        if lc.phase is Phase.MONITORING:
            assert not lc.armed and not lc.adapted and not monitor_armed and buffer == []
        if monitor_armed:
            assert fault_since is not None and lc.armed
            assert lc.phase is Phase.SHIELDING or arm_offline and lc.phase in (Phase.COLLECTING, Phase.ADAPTING)
