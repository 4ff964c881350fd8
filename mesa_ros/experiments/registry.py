"""The registry of experiments: one entry per figure of the paper, its conditions, and the names of its units."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesa_ros.core.config import MesaConfig
from mesa_ros.core.methods import SAFETY_LAYER_METHODS, get_method
from mesa_ros.core.restore import resolve_config

PRESETS = ("cpu-small", "smoke", "full")  # "full": the paper's values (no preset)
TEST_DATA_SEED = 10_000  # offset of the test dataset's collection seed from data_seed


@dataclass(frozen=True)
class Variant:
    """One condition of an experiment: the share of the test dataset phases 2-3 see (sec. 6.1)."""

    key: str = ""  # file-name part ("" for the main condition)
    label: str = ""  # legend / table part
    test_fraction: float = 1.0


@dataclass(frozen=True)
class Experiment:
    """One figure of the paper: an environment, its methods and conditions, how its data is collected."""

    name: str
    env: str
    summary: str
    methods: tuple[str, ...] = SAFETY_LAYER_METHODS  # CARL, CARL-Offline on request (--methods)
    seeds: int = 5
    variants: tuple[Variant, ...] = (Variant(),)
    start: str = "reset"  # collect(start=...): "near_obstacles" for the Navigation reference data
    overrides: tuple[str, ...] = ()  # config overrides that define the experiment


def _fraction_variant(denominator: int) -> Variant:
    return Variant(f"test1of{denominator}", f"test x1/{denominator}" if denominator > 1 else "test x1",
                   1.0 / denominator)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("navigation-1", "Navigation-1", "Navigation-1 (corridor), test B drawn from U(0.5, 1.5)^2 (fig. 4)",
               start="near_obstacles"),
    Experiment("navigation-2", "Navigation-2", "Navigation-2 (wall), test B drawn from U(0.5, 1.5)^2 (fig. 4)",
               start="near_obstacles"),
    Experiment("cartpole-length", "Cartpole-Length", "Cartpole-Length, test pole length 1.0 (fig. 5)"),
    Experiment("halfcheetah-disabled", "HalfCheetah-Disabled", "HalfCheetah-Disabled, test fault ffoot (fig. 5)",
               seeds=3),
    Experiment("ant-disabled", "Ant-Disabled", "Ant-Disabled, test leg 3 (fig. 5)", seeds=3),
    Experiment("ablation-test-size", "HalfCheetah-Disabled",
               "HalfCheetah-Disabled (ffoot), MESA with 1, 1/2, 1/4, 1/8, 1/16 of the test dataset (sec. 6.1)",
               methods=("mesa",), seeds=3, variants=tuple(_fraction_variant(d) for d in (1, 2, 4, 8, 16))),
    Experiment("ablation-partial", "HalfCheetah-Disabled",
               "HalfCheetah-Disabled, partial power loss k ~ U(0.5, 0.95) on ffoot at test time (sec. 6.2)",
               methods=("mesa", "multitask"), seeds=3, overrides=("data.partial=true",)),
)}


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


@dataclass(frozen=True)
class Unit:
    """One phase-3 run: a method in a condition with a seed."""

    method: str
    variant: Variant
    seed: int

    @property
    def key(self) -> str:
        return self.key_of(self.method, self.variant.key, self.seed)

    @staticmethod
    def key_of(method: str, variant: str, seed: int) -> str:
        return "_".join(filter(None, (method, variant, f"seed{seed}")))


def unit_config(exp: Experiment, preset: str, overrides: Sequence[str], seed: int = 0,
             method: str | None = None) -> MesaConfig:
    """The config of ``exp`` at ``preset`` with ``overrides`` for a unit of ``method`` and ``seed``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {list(PRESETS)}")
    return resolve_config(exp.env, None if preset == "full" else preset, [*exp.overrides, *overrides, f"seed={seed}"],
                          method=get_method(method, model_based=True) if method else None)


def offline_name(method: str, variant: str, seed: int) -> str:
    """The offline checkpoint a unit starts from (per variant only when the offline stage reads the test data)."""
    return f"offline/{Unit.key_of(method, variant if get_method(method, True).offline_reads_test else '', seed)}"
