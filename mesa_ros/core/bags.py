"""rosbag2 bags without rosbag2: split writing, crash-tolerant reading, conversion to datasets (rosbags + mcap).

A recording is a directory of complete rosbag2 bags ``<root>/<root-name>_<NNNN>/`` (MCAP by default),
one per split: a split is closed (metadata.yaml written) after ``split_messages`` messages, so a crash
loses at most the split being written. Every closed split plays with ``ros2 bag play``. Reading
recovers what it can of a split that was never closed (no metadata.yaml) with mcap's stream reader.
Compression (default ``zstd``): MCAP chunks compressed with zstd (rosbag2's storage-level
compression, which ``ros2 bag play`` and Foxglove read directly); sqlite3 bags compress per message.
``custom_data`` (string to string, e.g. the recording's provenance) goes into every split's metadata.yaml.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from mcap.stream_reader import StreamReader
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_typestore

try:  # Python 3.14 has zstd in the standard library; rosbags brings the backport before that
    from compression import zstd
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
COMPRESSIONS = ("zstd", "none")


class SplitBagWriter:
    """Writes serialized (CDR) messages into a sequence of complete rosbag2 bags."""

    def __init__(self, root: str | os.PathLike, topics: Mapping[str, str], storage: str = "mcap",
                 split_messages: int = 4000, compression: str = "zstd",
                 custom_data: Mapping[str, str] | None = None) -> None:
        if storage not in STORAGES:
            raise ValueError(f"unknown bag storage {storage!r}; expected one of {sorted(STORAGES)}")
        if compression not in COMPRESSIONS:
            raise ValueError(f"unknown bag compression {compression!r}; expected one of {list(COMPRESSIONS)}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in (custom_data or {}).items()):
            raise ValueError("bag custom_data must map strings to strings")
        if split_messages < 1:
            raise ValueError(f"split_messages must be >= 1, got {split_messages}")
        for topic, msgtype in topics.items():
            if msgtype not in TYPESTORE.types:
                raise ValueError(f"topic {topic}: unknown message type {msgtype!r}")
        self.root = Path(root)
        if self.root.exists() and any(self.root.iterdir()):
            raise ValueError(f"bag directory {self.root} exists and is not empty; choose a new path")
        self.root.mkdir(parents=True, exist_ok=True)
        self.topics, self.storage, self.split_messages = dict(topics), STORAGES[storage], split_messages
        self.compression = compression
        self.custom_data = dict(custom_data or {})
        self.splits: list[Path] = []
        self.written = 0
        self._writer: Writer | None = None
        self._connections: dict[str, Any] = {}
        self._in_split = 0

    def _open_split(self) -> None:
        path = self.root / f"{self.root.name}_{len(self.splits):04d}"
        self._writer = Writer(path, version=9, storage_plugin=self.storage)
        if self.compression == "zstd":
            mode = CompressionMode.STORAGE if self.storage is StoragePlugin.MCAP else CompressionMode.MESSAGE
            self._writer.set_compression(mode, CompressionFormat.ZSTD)
        for key, value in self.custom_data.items():
            self._writer.set_custom_data(key, value)
        self._writer.open()
        self._connections = {t: self._writer.add_connection(t, m, typestore=TYPESTORE) for t, m in self.topics.items()}
        self.splits.append(path)
        self._in_split = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        """Append one serialized message; rolls over to a new split when the current one is full."""
        if topic not in self.topics:
            raise ValueError(f"topic {topic!r} is not recorded; recorded topics: {sorted(self.topics)}")
        if self._writer is None:
            self._open_split()
        self._writer.write(self._connections[topic], timestamp_ns, data)
        self.written += 1
        self._in_split += 1
        if self._in_split >= self.split_messages:
            self.close()

    def close(self) -> None:
        """Close the current split (idempotent); the next write opens a new one."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass
class ReadReport:
    """What reading a recording found: messages per split and splits that had to be recovered."""

    messages: int = 0
    splits: list[str] = field(default_factory=list)
    recovered: dict[str, int] = field(default_factory=dict)  # split -> messages salvaged from an unclosed file


def is_bag(path: str | os.PathLike) -> bool:
    """True for a rosbag2 bag or a recording root of split bags (directories of them)."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "metadata.yaml").exists() or any(path.glob("*.mcap")):
        return True
    subdirs = [p for p in path.iterdir() if p.is_dir()]
    return bool(subdirs) and all(is_bag(p) for p in subdirs)


def bag_splits(path: str | os.PathLike) -> list[Path]:
    """The bag directories of a recording root, or ``[path]`` when it is a single bag."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"bag {path} is not a directory (a rosbag2 bag is a directory with metadata.yaml)")
    if (path / "metadata.yaml").exists() or any(path.glob("*.mcap")) or any(path.glob("*.db3")):
        return [path]
    splits = sorted(p for p in path.iterdir() if p.is_dir())
    if not splits:
        raise ValueError(f"{path} contains no rosbag2 bag (no metadata.yaml, *.mcap or split directories)")
    return splits


def custom_data(path: str | os.PathLike) -> dict[str, str]:
    """The ``custom_data`` of the first closed split's metadata.yaml (``{}`` when none has any)."""
    import yaml

    for split in bag_splits(path):
        meta = split / "metadata.yaml"
        if meta.is_file():
            info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {})
            return {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}
    return {}


class WrongMessageType(ValueError):
    """A topic of the bag carries another message type than the reader expects."""


def _check_type(split: Path, topic: str, msgtype: str, expected: Mapping[str, str]) -> None:
    if topic in expected and msgtype != expected[topic]:
        raise WrongMessageType(f"bag split {split}: topic {topic} carries {msgtype}, expected {expected[topic]}")


def read_messages(path: str | os.PathLike, topics: set[str] | None = None,
                  report: ReadReport | None = None,
                  expected: Mapping[str, str] | None = None) -> Iterator[tuple[str, int, Any]]:
    """(topic, timestamp_ns, message) of every message, split by split, in each split's time order;
    ``expected`` (topic -> message type): a topic with another type is an error naming both."""
    report = report if report is not None else ReadReport()
    for split in bag_splits(path):
        report.splits.append(split.name)
        if (split / "metadata.yaml").exists():
            messages = _read_closed(split, topics, expected or {})
        else:
            messages = _read_unclosed(split, topics, report, expected or {})
        for item in messages:
            report.messages += 1
            yield item


def _read_closed(split: Path, topics: set[str] | None, expected: Mapping[str, str]) -> Iterator[tuple[str, int, Any]]:
    try:
        with AnyReader([split], default_typestore=TYPESTORE) as reader:
            connections = [c for c in reader.connections if topics is None or c.topic in topics]
            for c in connections:
                _check_type(split, c.topic, c.msgtype, expected)
            for connection, timestamp, raw in reader.messages(connections=connections):
                yield connection.topic, timestamp, reader.deserialize(raw, connection.msgtype)
    except WrongMessageType:
        raise
    except Exception as exc:  # rosbags raises several unrelated types for corrupt files
        raise ValueError(f"bag split {split} is corrupt: {type(exc).__name__}: {exc}") from None


def _records(stream: Any) -> Iterator[Any]:
    """The records of an MCAP stream, the records inside (zstd- or un-compressed) chunks included."""
    for record in StreamReader(stream, skip_magic=False, emit_chunks=True).records:
        if type(record).__name__ != "Chunk":
            yield record
            continue
        if record.compression not in ("", "zstd"):
            raise ValueError(f"unsupported MCAP chunk compression {record.compression!r}")
        data = zstd.decompress(record.data) if record.compression == "zstd" else record.data
        yield from StreamReader(BytesIO(data), skip_magic=True).records


def _read_unclosed(split: Path, topics: set[str] | None, report: ReadReport,
                   expected: Mapping[str, str]) -> Iterator[tuple[str, int, Any]]:
    """Salvage the messages of a split whose writer died (MCAP only: sqlite3 keeps nothing before close)."""
    files = sorted(split.glob("*.mcap"))
    if not files:
        raise ValueError(f"bag split {split} has no metadata.yaml and no .mcap file to recover")
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    salvaged = 0
    with files[0].open("rb") as stream:
        try:
            for record in _records(stream):
                kind = type(record).__name__
                if kind == "Schema":
                    schemas[record.id] = record.name
                elif kind == "Channel":
                    channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                    if topics is None or record.topic in topics:
                        _check_type(split, *channels[record.id], expected)
                elif kind == "Message" and record.channel_id in channels:
                    topic, msgtype = channels[record.channel_id]
                    if topics is None or topic in topics:
                        salvaged += 1
                        yield topic, record.log_time, TYPESTORE.deserialize_cdr(record.data, msgtype)
        except WrongMessageType:
            raise
        except Exception:  # the file ends mid-record where the writer was killed: keep what came before
            pass
    report.recovered[split.name] = salvaged
