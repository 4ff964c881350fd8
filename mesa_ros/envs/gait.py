"""A scripted open-loop gait for HalfCheetah: a_j(t) = amp_j sin(2 pi f t + phase_j).

The constants were picked by a random search over 200 sine gaits (the fastest one that ran 500 steps
without a head contact on reset seeds 0-2). Healthy, it runs ~1.3 m/s with no violation over
1000 steps; with the test fault (ffoot power loss) it tips onto its head: a policy that was safe
becomes unsafe. Used by the scripted demo and as "normal running" in tests.
"""
from __future__ import annotations

import numpy as np

FREQUENCY_HZ = 2.0953
PHASE = np.array([0.562, 2.557, 4.285, 5.255, 3.242, 5.969])
AMPLITUDE = np.array([0.788, 0.832, 0.308, 0.604, 0.228, 0.735])


def sine_gait(step: int, dt: float = 0.05) -> np.ndarray:
    """The gait's 6-D HalfCheetah command at control step ``step`` (control period ``dt`` seconds)."""
    return AMPLITUDE * np.sin(2.0 * np.pi * FREQUENCY_HZ * step * dt + PHASE)
