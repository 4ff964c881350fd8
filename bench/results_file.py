"""One format for every benchmark's JSON under ``bench/results/``: the figures plus the machine and its load."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the architecture where that is unavailable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def save(name: str, load_start: tuple[float, float, float], figures: dict) -> Path:
    """Write ``results/<name>.json``: ``figures`` with the CPU, its core count and the load averages
    at the start and end of the run (other processes on a shared machine skew the numbers)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({
        "benchmark": name, "cpu": cpu_model(), "cpus": os.cpu_count(),
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(), **figures,
    }, indent=2) + "\n")
    print(f"saved {path}")
    return path
