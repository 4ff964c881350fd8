"""The one transition schema of mesa_ros: offline datasets (s, a_task, a_exec, r, c, s', ...) on disk and in memory.

Arrays (N transitions, in collection order; every array float64 unless noted)::

    s           (N, obs_dim)  observation before the step
    a_task      (N, act_dim)  action the task policy proposed
    a_exec      (N, act_dim)  action actually executed (differs from a_task when a shield overrode it)
    r           (N,)          reward
    c           (N,)          1.0 when s' violates the constraint, else 0.0
    s_next      (N, obs_dim)  observation after the step (the true final one at the end of an episode)
    terminated  (N,) bool     the episode ended in s' inside the MDP (bootstrapping stops)
    truncated   (N,) bool     the episode was cut in s' (time limit, or the recording stopped)
    episode     (N,) int64    episode index within the dataset
    step        (N,) int64    step index within the episode, from 0

Datasets from ``TransitionRecorder`` end every episode with a terminated or truncated transition.

Everything is stored in float64 so that data from the ROS pipeline (float64 messages) round-trips
bit for bit; ``sample`` hands learners float32 tensors.

File layout: one safetensors file (``*.safetensors``; raw little-endian arrays, no pickle) whose
header metadata holds three strings::

    "format":         "mesa_ros.transitions"
    "schema_version": "1"
    "dataset":        JSON of DatasetMetadata: {"env", "task", "split", "policy", "seed", "extra"}
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import safetensors
from safetensors.numpy import save_file

from mesa_ros.core.files import atomic
from mesa_ros.envs.base import SPLITS

if TYPE_CHECKING:  # torch only when a batch is made (the inference nodes read datasets' names, not batches)
    from mesa_ros.core.batch import Batch

FORMAT = "mesa_ros.transitions"
SCHEMA_VERSION = 1

#: Array name -> (dtype, kind): "obs"/"act" arrays are (N, dim), "scalar" arrays (N,).
SCHEMA: dict[str, tuple[np.dtype, str]] = {
    "s": (np.dtype(np.float64), "obs"),
    "a_task": (np.dtype(np.float64), "act"),
    "a_exec": (np.dtype(np.float64), "act"),
    "r": (np.dtype(np.float64), "scalar"),
    "c": (np.dtype(np.float64), "scalar"),
    "s_next": (np.dtype(np.float64), "obs"),
    "terminated": (np.dtype(np.bool_), "scalar"),
    "truncated": (np.dtype(np.bool_), "scalar"),
    "episode": (np.dtype(np.int64), "scalar"),
    "step": (np.dtype(np.int64), "scalar"),
}
ARRAY_NAMES: tuple[str, ...] = tuple(SCHEMA)

ActionKind = Literal["exec", "task"]
_ACTION_ARRAY: dict[str, str] = {"exec": "a_exec", "task": "a_task"}


def _json_copy(value: Any, what: str) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists); ``ValueError`` when it is not JSON data."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"dataset metadata {what} must be JSON-serialisable (no NaN): {exc}") from None


@dataclass(frozen=True)
class DatasetMetadata:
    """Where the transitions come from; ``task`` and ``extra`` are normalised to their JSON form."""

    env: str  # paper environment name, e.g. "HalfCheetah-Disabled"
    task: dict[str, Any]  # the env's task (dynamics) dict, e.g. {"power_scale": {"ffoot": 0.0}}
    split: str  # "train" (meta-training data) or "test" (the small test-environment set)
    policy: str  # behaviour policy: "random", "sac", "sac_early_stop", "shielded", ...
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, JSON-serialisable

    def __post_init__(self) -> None:
        if not isinstance(self.env, str) or not self.env:
            raise ValueError(f"dataset metadata env must be a non-empty string, got {self.env!r}")
        if self.split not in SPLITS:
            raise ValueError(f"dataset metadata split must be one of {list(SPLITS)}, got {self.split!r}")
        if not isinstance(self.policy, str) or not self.policy:
            raise ValueError(f"dataset metadata policy must be a non-empty string, got {self.policy!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError(f"dataset metadata seed must be an int or None, got {self.seed!r}")
        for name in ("task", "extra"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"dataset metadata {name} must be a mapping, got {value!r}")
            object.__setattr__(self, name, _json_copy(dict(value), name))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> DatasetMetadata:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"dataset metadata is not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"dataset metadata must be a JSON object, got {text[:80]!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        if set(doc) != names:
            raise ValueError(
                f"dataset metadata keys {sorted(doc)} differ from the schema's {sorted(names)} "
                f"(missing {sorted(names - set(doc))}, unexpected {sorted(set(doc) - names)})"
            )
        return cls(**doc)


def allocate(n: int, obs_dim: int, act_dim: int) -> dict[str, np.ndarray]:
    """Zeroed schema arrays for ``n`` transitions (the storage of recorders and replay buffers)."""
    dims = {"obs": (obs_dim,), "act": (act_dim,), "scalar": ()}
    return {name: np.zeros((n, *dims[kind]), dtype=dtype) for name, (dtype, kind) in SCHEMA.items()}


def check_names(arrays: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the missing and unexpected arrays unless the names are the schema's."""
    missing = [n for n in ARRAY_NAMES if n not in arrays]
    extra = sorted(set(arrays) - set(ARRAY_NAMES))
    if missing or extra:
        raise ValueError(f"arrays do not match the schema: missing {missing}, unexpected {extra}")


def check_arrays(arrays: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` saying what is wrong unless ``arrays`` follow the schema exactly."""
    check_names(arrays)
    for name, (dtype, kind) in SCHEMA.items():
        arr = arrays[name]
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"array {name!r} must be a numpy array, got {type(arr).__name__}")
        if arr.dtype != dtype:
            raise ValueError(f"array {name!r} has dtype {arr.dtype}, the schema stores {dtype} (convert with .astype)")
        ndim = 1 if kind == "scalar" else 2
        if arr.ndim != ndim:
            raise ValueError(f"array {name!r} has shape {arr.shape}, expected {ndim} dimension(s)")
    n = len(arrays["r"])
    lengths = {name: len(arrays[name]) for name in ARRAY_NAMES}
    if any(length != n for length in lengths.values()):
        raise ValueError(f"arrays have inconsistent lengths: {lengths}")
    for a, b in (("s", "s_next"), ("a_task", "a_exec")):
        if arrays[a].shape != arrays[b].shape:
            raise ValueError(f"array {b!r} has shape {arrays[b].shape}, expected {arrays[a].shape} like {a!r}")
    for name in ("s", "a_task"):
        if arrays[name].shape[1] == 0:
            raise ValueError(f"array {name!r} has shape {arrays[name].shape}: its dimension must be at least 1")
    for name, (dtype, _) in SCHEMA.items():
        if dtype.kind == "f":
            bad = ~np.isfinite(arrays[name])
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise ValueError(f"array {name!r} contains NaN or inf (first at transition {row})")
    if not np.isin(arrays["c"], (0.0, 1.0)).all():
        raise ValueError(f"array 'c' must hold only 0.0 or 1.0, found {np.unique(arrays['c'])[:5].tolist()}")
    for name in ("episode", "step"):
        if n and arrays[name].min() < 0:
            raise ValueError(f"array {name!r} contains negative indices")


def to_batch(arrays: Mapping[str, np.ndarray], index: np.ndarray, action: ActionKind) -> Batch:
    """Float32 ``Batch`` of the transitions at ``index``, with the task or executed action."""
    import torch

    from mesa_ros.core.batch import Batch
    if action not in _ACTION_ARRAY:
        raise ValueError(f"action must be one of {list(_ACTION_ARRAY)}, got {action!r}")

    def take(name: str) -> torch.Tensor:
        return torch.from_numpy(arrays[name][index].astype(np.float32))

    return Batch(
        obs=take("s"),
        action=take(_ACTION_ARRAY[action]),
        reward=take("r"),
        cost=take("c"),
        next_obs=take("s_next"),
        terminated=take("terminated"),
    )


@dataclass(eq=False)  # arrays have no single truth value: compare with np.array_equal per array
class TransitionDataset:
    """One task's offline transitions (arrays as in the module docstring) plus their metadata."""

    s: np.ndarray
    a_task: np.ndarray
    a_exec: np.ndarray
    r: np.ndarray
    c: np.ndarray
    s_next: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    metadata: DatasetMetadata

    def __post_init__(self) -> None:
        if not isinstance(self.metadata, DatasetMetadata):
            raise ValueError(f"metadata must be a DatasetMetadata, got {type(self.metadata).__name__}")
        check_arrays(self.arrays())

    # -- shape ---------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The schema arrays by name (no copies)."""
        return {name: getattr(self, name) for name in ARRAY_NAMES}

    def __len__(self) -> int:
        return len(self.r)

    @property
    def obs_dim(self) -> int:
        return self.s.shape[1]

    @property
    def act_dim(self) -> int:
        return self.a_task.shape[1]

    @property
    def num_episodes(self) -> int:
        return len(np.unique(self.episode))

    @property
    def num_violations(self) -> int:
        """Transitions whose s' violates the constraint (sum of c)."""
        return int(self.c.sum())

    def summary(self) -> str:
        """One line: origin, transitions, episodes, violations and violation rate."""
        m = self.metadata
        n = len(self)
        rate = self.num_violations / n if n else 0.0
        return (
            f"{m.env} [{m.split}] task={json.dumps(m.task)} policy={m.policy} seed={m.seed}: "
            f"{n} transitions, {self.num_episodes} episodes, {self.num_violations} violations ({rate:.2%})"
        )

    # -- selection -------------------------------------------------------------------------------
    def subset(self, index: np.ndarray | slice) -> TransitionDataset:
        """The transitions at ``index`` (integer indices, boolean mask or slice), copied; same metadata."""
        return TransitionDataset(**{n: np.array(a[index]) for n, a in self.arrays().items()}, metadata=self.metadata)

    def fraction(
        self, fraction: float, unit: Literal["transitions", "episodes"] = "transitions"
    ) -> TransitionDataset:
        """The first ``fraction`` of the data (the paper's test-set-size ablation, sec. 6.1).

        ``unit="transitions"``: the first round(fraction * N) transitions (at least 1), which may end
        inside an episode (kept as recorded); ``"episodes"``: the first round(fraction * episodes) whole episodes (at
        least 1), in collection order.
        """
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if len(self) == 0:
            raise ValueError("cannot take a fraction of an empty dataset")
        if unit == "transitions":
            return self.subset(slice(0, max(1, round(fraction * len(self)))))
        if unit == "episodes":
            order = self.episode[np.sort(np.unique(self.episode, return_index=True)[1])]
            keep = order[: max(1, round(fraction * len(order)))]
            return self.subset(np.isin(self.episode, keep))
        raise ValueError(f"unit must be 'transitions' or 'episodes', got {unit!r}")

    def sample(self, batch_size: int, rng: np.random.Generator, action: ActionKind = "exec",
               pos_fraction: float = 0.0) -> Batch:
        """``batch_size`` transitions drawn with replacement, as float32 tensors: uniformly, or with
        ``pos_fraction`` of them from the violating transitions and the rest from the others (as the
        reference's ``pos_fraction``) when there are both."""
        return to_batch(self.arrays(), self.sample_index(batch_size, rng, pos_fraction), action)

    def sample_index(self, batch_size: int, rng: np.random.Generator, pos_fraction: float = 0.0) -> np.ndarray:
        """The indices ``sample`` draws (e.g. to pair the batch with per-transition targets)."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty dataset")
        if not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
        pos, neg = self._violating_split if pos_fraction else (np.empty(0, dtype=np.int64), None)
        if len(pos) == 0 or len(pos) == len(self):
            return rng.integers(0, len(self), size=batch_size)
        n_pos = int(round(pos_fraction * batch_size))
        return np.concatenate((rng.choice(pos, n_pos), rng.choice(neg, batch_size - n_pos)))

    @functools.cached_property
    def _violating_split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the violating transitions and of the others, found once (offline batches draw from both at
        every step; the arrays are not changed after construction)."""
        return np.flatnonzero(self.c > 0), np.flatnonzero(self.c <= 0)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the safetensors file (atomically: a temporary file renamed into place)."""
        path = Path(path)
        header = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION), "dataset": self.metadata.to_json()}
        with atomic(path) as tmp:
            save_file({n: np.ascontiguousarray(a) for n, a in self.arrays().items()}, str(tmp), metadata=header)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TransitionDataset:
        """Read and validate a file written by ``save``; errors name the file and what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"transition dataset {path} does not exist")
        try:
            with safetensors.safe_open(str(path), framework="np") as f:
                header = f.metadata() or {}
                arrays = {name: f.get_tensor(name) for name in f.keys()}
        except (safetensors.SafetensorError, OSError) as exc:
            raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: not a mesa_ros transition dataset (header format {header.get('format')!r})")
        if header.get("schema_version") != str(SCHEMA_VERSION):
            raise ValueError(
                f"{path}: schema version {header.get('schema_version')!r}, this mesa_ros reads version "
                f"{SCHEMA_VERSION}; convert or re-collect the data"
            )
        try:
            metadata = DatasetMetadata.from_json(header.get("dataset", ""))
            check_names(arrays)
            return cls(**arrays, metadata=metadata)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


def load(path: str | os.PathLike) -> TransitionDataset:
    """``TransitionDataset.load(path)``."""
    return TransitionDataset.load(path)


def concatenate(datasets: Sequence[TransitionDataset], metadata: DatasetMetadata | None = None) -> TransitionDataset:
    """One dataset of all transitions in order; episode indices are shifted to stay unique.

    The datasets must agree in observation and action size. ``metadata`` defaults to the common
    metadata and must be given when the datasets' metadata differ.
    """
    if not datasets:
        raise ValueError("concatenate needs at least one dataset")
    if metadata is None:
        if any(d.metadata != datasets[0].metadata for d in datasets[1:]):
            raise ValueError("datasets have different metadata; pass the metadata of the concatenation explicitly")
        metadata = datasets[0].metadata
    dims = {(d.obs_dim, d.act_dim) for d in datasets}
    if len(dims) > 1:
        raise ValueError(f"datasets have different (obs_dim, act_dim): {sorted(dims)}")
    offsets = np.cumsum([0] + [int(d.episode.max()) + 1 if len(d) else 0 for d in datasets[:-1]])
    arrays = {name: np.concatenate([getattr(d, name) for d in datasets]) for name in ARRAY_NAMES}
    arrays["episode"] = np.concatenate([d.episode + off for d, off in zip(datasets, offsets)])
    return TransitionDataset(**arrays, metadata=metadata)


class TransitionRecorder:
    """Accumulates the steps of an env loop into schema arrays, keeping episode and step indices.

    ``add`` one transition per env step; an episode ends when a step is terminated or truncated, or
    when ``finish_episode`` cuts it (its last step is then marked truncated). Storage grows as needed.
    """

    def __init__(self, obs_dim: int, act_dim: int, capacity: int = 1024) -> None:
        if obs_dim < 1 or act_dim < 1 or capacity < 1:
            raise ValueError(f"obs_dim, act_dim and capacity must be >= 1, got {obs_dim}, {act_dim}, {capacity}")
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self._arrays = allocate(capacity, obs_dim, act_dim)
        self._pos = 0  # next slot to write
        self._size = 0  # stored transitions
        self._episode = 0  # index of the open (or next) episode
        self._step = 0  # steps taken in the open episode

    @property
    def capacity(self) -> int:
        return len(self._arrays["r"])

    def __len__(self) -> int:
        return self._size

    def add(
        self,
        s: np.ndarray,
        a_task: np.ndarray,
        a_exec: np.ndarray,
        r: float,
        c: float,
        s_next: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> None:
        """Store one transition (s, a_task, a_exec, r, c, s', terminated, truncated)."""
        i = self._claim_slot()
        arrays = self._arrays
        arrays["s"][i] = s
        arrays["a_task"][i] = a_task
        arrays["a_exec"][i] = a_exec
        arrays["r"][i] = r
        arrays["c"][i] = c
        arrays["s_next"][i] = s_next
        arrays["terminated"][i] = terminated
        arrays["truncated"][i] = truncated
        arrays["episode"][i] = self._episode
        arrays["step"][i] = self._step
        if terminated or truncated:
            self._episode += 1
            self._step = 0
        else:
            self._step += 1

    def finish_episode(self) -> None:
        """Cut the open episode (e.g. the collection budget is reached): its last step becomes truncated."""
        if self._step == 0:
            return
        self._arrays["truncated"][(self._pos - 1) % self.capacity] = True
        self._episode += 1
        self._step = 0

    def _claim_slot(self) -> int:
        """Index to write the next transition to; grows the storage when full."""
        if self._size == self.capacity:
            grown = allocate(2 * self.capacity, self.obs_dim, self.act_dim)
            for name, arr in self._arrays.items():
                grown[name][: len(arr)] = arr
            self._arrays = grown
        i = self._size
        self._size += 1
        self._pos = self._size
        return i

    def _chronological(self) -> np.ndarray:
        """Storage indices of the stored transitions, oldest first."""
        return (self._pos - self._size + np.arange(self._size)) % self.capacity

    def to_dataset(self, metadata: DatasetMetadata) -> TransitionDataset:
        """A copy of the stored transitions, oldest first; a still-open episode ends truncated in the copy."""
        arrays = {name: arr[self._chronological()] for name, arr in self._arrays.items()}
        if self._step > 0:
            arrays["truncated"][-1] = True
        return TransitionDataset(**arrays, metadata=metadata)

    @classmethod
    def from_dataset(cls, dataset: TransitionDataset, capacity: int | None = None, **kwargs: Any) -> Self:
        """Storage holding ``dataset`` (its last ``capacity`` transitions); new steps start a new episode."""
        n = len(dataset)
        recorder = cls(dataset.obs_dim, dataset.act_dim, capacity=capacity or max(n, 1), **kwargs)
        keep = min(n, recorder.capacity)
        for name, arr in dataset.arrays().items():
            recorder._arrays[name][:keep] = arr[n - keep :]
        recorder._size = keep
        recorder._pos = keep % recorder.capacity
        recorder._episode = int(dataset.episode.max()) + 1 if n else 0
        return recorder
