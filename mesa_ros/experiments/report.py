"""Reports of experiment directories: ``results.md`` (a table per experiment with a calibration table) and
``curves.png`` (cumulative violations and return over phase 3, mean ± standard error over seeds)."""
from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mesa_ros.core.calibration import DISTANCE_BINS, calibration
from mesa_ros.core.dataset import TransitionDataset
from mesa_ros.core.files import atomic
from mesa_ros.core.methods import get_method
from mesa_ros.core.restore import load_checkpoint
from mesa_ros.experiments.registry import Unit, offline_name


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _load(out: Path) -> tuple[dict[str, Any], dict[tuple[str, str], dict[int, list[dict[str, str]]]], dict[str, float]]:
    """experiment.json, the rows of episodes.csv by (method, variant key) and seed, and unit seconds by name."""
    meta = json.loads((out / "experiment.json").read_text())
    curves: dict[tuple[str, str], dict[int, list[dict[str, str]]]] = {}
    for r in read_csv(out / "episodes.csv"):
        curves.setdefault((r["method"], r["variant"]), {}).setdefault(int(r["seed"]), []).append(r)
    seconds: dict[str, float] = {}
    if (out / "timings.csv").is_file():
        for r in read_csv(out / "timings.csv"):
            seconds[r["unit"]] = float(r["seconds"])  # the last run of a unit counts
    return meta, curves, seconds


def _label(meta: Mapping[str, Any], method: str, variant: str) -> str:
    labels = {v["key"]: v["label"] for v in meta["variants"]}
    return " ".join(filter(None, (method, labels.get(variant, variant))))


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0)


def curve(per_seed: Mapping[int, list[dict[str, str]]], key: str,
           by_steps: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, mean and standard error over seeds of ``key``. x: the episode number (seeds that reached it),
    or with ``by_steps`` 200 env-step counts up to the shortest seed's total, each seed's value being
    that of its last episode finished by then (for phase-3 step budgets, where episode counts differ)."""
    if by_steps:
        end = min(int(rows[-1]["total_steps"]) for rows in per_seed.values())
        x = np.linspace(0, end, 201)[1:]
        table = np.full((len(per_seed), len(x)), np.nan)
        for i, rows in enumerate(per_seed.values()):
            done = np.searchsorted([int(r["total_steps"]) for r in rows], x, side="right") - 1
            values = np.array([float(r[key]) for r in rows])
            table[i] = np.where(
                done >= 0, values[np.maximum(done, 0)], 0.0 if key == "cumulative_violations" else np.nan
            )
    else:
        x = np.arange(1, max(len(rows) for rows in per_seed.values()) + 1)
        table = np.full((len(per_seed), len(x)), np.nan)
        for i, rows in enumerate(per_seed.values()):
            table[i, : len(rows)] = [float(r[key]) for r in rows]
    count = np.sum(~np.isnan(table), axis=0)
    mean = np.nansum(table, axis=0) / np.maximum(count, 1)
    var = np.nansum((table - mean) ** 2, axis=0) / np.maximum(count - 1, 1)
    mean = np.where(count > 0, mean, np.nan)
    return x, mean, np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), 0.0)


def _table(out: Path) -> str:
    meta, curves, seconds = _load(out)
    s, cfg = meta["settings"], meta["config"]
    train, test = meta["data"]["train"], meta["data"]["test"]
    lines = [f"### {s['experiment']}: {meta['summary']}", "",
             f"Preset `{s['preset']}`{' + ' + ', '.join(s['overrides']) if s['overrides'] else ''}; test task "
             f"`{json.dumps(meta['test_task'])}`; data seed {s['data_seed']}. Data: {len(train)} training datasets x "
             f"{train[0][0]} transitions ({np.mean([v for _, v in train]):.0f} violations on average), test dataset "
             f"{test[0]} transitions ({test[1]} violations). Phase 3: {phase3_length(cfg['online'])} per seed.", "",
             "| method | seeds | total violations | average return | final return | steps / episode | override rate "
             "| wall time / seed |",
             "|---|---|---|---|---|---|---|---|"]
    for (method, variant), per_seed in curves.items():
        totals = [int(rows[-1]["cumulative_violations"]) for rows in per_seed.values()]
        average = [np.mean([float(r["return"]) for r in rows]) for rows in per_seed.values()]
        tail = max(1, min(len(rows) for rows in per_seed.values()) // 10)
        final = [np.mean([float(r["return"]) for r in rows[-tail:]]) for rows in per_seed.values()]
        steps = [[int(r["steps"]) for r in rows] for rows in per_seed.values()]
        overrides = [np.average([float(r["override_rate"]) for r in rows], weights=n) if sum(n) else 0.0
                     for rows, n in zip(per_seed.values(), steps)]
        times = [seconds.get("episodes/" + Unit.key_of(method, variant, seed), math.nan)
                 + seconds.get(offline_name(method, variant, seed), 0.0) for seed in per_seed]
        wall = "-" if any(map(math.isnan, times)) else _duration(float(np.mean(times)))
        cells = [f"{m:.1f} ± {e:.1f}" for m, e in (_mean_se(totals), _mean_se(average), _mean_se(final),
                                                     _mean_se([np.mean(n) for n in steps]))]
        cells.append("{:.0%} ± {:.0%}".format(*_mean_se(overrides)))
        lines.append(f"| {_label(meta, method, variant)} | {len(per_seed)} | {' | '.join(cells)} | {wall} |")
    lines += ["", "Mean ± standard error over seeds. Total violations: constraint violations (each ends its episode) "
              "over all phase-3 episodes; average return: over all episodes; final return: over the last 10% "
              "(at least 1) of the episodes; steps / episode: episode length (an episode ends at a violation or "
              "the step limit); override rate: share of phase-3 steps on which the shield executed the recovery "
              "action. Wall time: offline stage + phase 2 + phase 3 of one seed, 1 thread.", ""]
    return "\n".join(lines + _calibration_table(out, meta))


def _calibration_table(out: Path, meta: Mapping[str, Any]) -> list[str]:
    """Median Q_risk(s, a) on the test dataset by steps to the next violation, beside gamma_risk^d, after
    phases 1, 2 and 3 of each safe method's lowest finished seed (main condition), and the share of the
    test states where Q_risk(s, pi_task(s)) > eps_risk (where the shield would override)."""
    test_path = out / "data" / "test.safetensors"
    if not test_path.is_file():
        return []
    data = TransitionDataset.load(test_path)
    spans = [f"{lo:.0f}" if lo == hi else f"{lo:.0f}-{hi:.0f}".replace("inf", "end") for lo, hi in DISTANCE_BINS]
    rows = []
    counts = dict.fromkeys(DISTANCE_BINS, 0)
    variant = meta["variants"][0]["key"]  # the first condition
    for method in meta["methods"]:
        if not get_method(method, model_based=True).safe:
            continue
        prefix = Unit.key_of(method, variant, 0)[:-1]  # "<method>[_<variant>]_seed"
        seeds = sorted(int(p.name[len(prefix):].split(".")[0]) for p in (out / "checkpoints").glob(
            f"{prefix}*.phase2.safetensors"))
        if not seeds:
            continue
        key = Unit.key_of(method, variant, seeds[0])
        stages = (("phase 1", out / f"{offline_name(method, variant, seeds[0])}.safetensors"),
                  ("phase 2", out / "checkpoints" / f"{key}.phase2.safetensors"),
                  ("phase 3", out / "checkpoints" / f"{key}.safetensors"))
        for stage, path in stages:
            if not path.is_file():
                continue
            run = load_checkpoint(path, env=data.metadata.env)
            by_bin = {(r.low, r.high): r for r in calibration(run.critic, run.agent.policy, data,
                                                              run.cfg.shield.eps_risk)}
            gamma, eps = run.cfg.critic.gamma_risk, run.cfg.shield.eps_risk
            counts |= {b: r.count for b, r in by_bin.items()}  # the same test data for every row
            cells = [f"{by_bin[b].median_q:.3f}" if b in by_bin else "-" for b in DISTANCE_BINS]
            above = sum(r.above_eps * r.count for r in by_bin.values()) / max(1, sum(r.count for r in by_bin.values()))
            rows.append(f"| {method} (seed {seeds[0]}) | {stage} | {' | '.join(cells)} | {above:.0%} |")
    if not rows:
        return []
    return ["", f"Calibration on the test dataset: median Q_risk(s, a) by steps d to the next violation "
            f"(`mesa-ros calibration`), beside gamma_risk^d (gamma_risk {gamma}); last column: share of the "
            f"test states with Q_risk(s, pi_task(s)) > eps_risk {eps}.", "",
            f"| method | after | {' | '.join(f'd {s}' for s in spans)} | > eps_risk |",
            "|---|---|" + "---|" * (len(spans) + 1),
            f"| transitions | | {' | '.join(str(counts[b]) for b in DISTANCE_BINS)} | |",
            f"| calibrated | | {' | '.join(f'{gamma ** lo:.3f}' for lo, _ in DISTANCE_BINS)} | |", *rows, ""]


def phase3_length(online: Mapping[str, Any]) -> str:
    """The phase-3 budget as configured: a number of episodes, or env steps when ``max_total_steps`` is set."""
    episodes = f"episodes of at most {online['max_episode_steps']} steps"
    if online.get("max_total_steps"):
        return f"{online['max_total_steps']} env steps ({episodes})"
    return f"{online['episodes']} {episodes}"


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 60
        else f"{seconds / 60:.1f} min"
        if seconds < 3600
        else f"{seconds / 3600:.1f} h"
    )


def report(dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """``results.md`` (one table per experiment directory) and ``curves.png`` (one panel column per
    experiment: cumulative violations and return vs episode, mean ± standard error over seeds; vs env
    steps when the runs' episode counts differ, as under an ``online.max_total_steps`` budget) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    dirs = [Path(d) for d in dirs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic(out / "results.md") as tmp:
        tmp.write_text("\n".join(_table(d) for d in dirs))
    fig, axes = plt.subplots(2, len(dirs), figsize=(4.2 * len(dirs), 6.4), squeeze=False)
    for col, d in enumerate(dirs):
        meta, curves, _ = _load(d)
        by_steps = len({len(rows) for per_seed in curves.values() for rows in per_seed.values()}) > 1
        for i, ((method, variant), per_seed) in enumerate(curves.items()):
            label = _label(meta, method, variant)
            color = COLORS.get(label, f"C{i % 10}")
            for row, (key, ylabel) in enumerate((("cumulative_violations", "cumulative violations"),
                                                 ("return", "episode return"))):
                x, mean, se = curve(per_seed, key, by_steps)
                ax = axes[row, col]
                ax.plot(x, mean, color=color, label=f"{label} ({len(per_seed)})", lw=1.5)
                ax.fill_between(x, mean - se, mean + se, color=color, alpha=0.2, lw=0)
                ax.set_ylabel(ylabel)
                ax.set_xlabel("phase-3 env steps" if by_steps else "phase-3 episode")
                ax.xaxis.set_major_locator(MaxNLocator(5 if by_steps else "auto", integer=True))
                if by_steps:  # env steps in thousands: full numbers collide on a narrow panel
                    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        axes[0, col].set_title(f"{meta['settings']['experiment']} ({meta['settings']['preset']})", fontsize=10)
        axes[0, col].legend(fontsize=7, title="method (seeds)", title_fontsize=7)
    fig.tight_layout()
    with atomic(out / "curves.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out / "results.md"


COLORS = {"unconstrained": "tab:gray", "rrl": "tab:orange", "multitask": "tab:blue", "mesa": "tab:red",
          "carl": "tab:green", "carl_offline": "tab:olive"}
