"""Metrics of a command or an experiment unit: rows of scalars to a CSV file (atomically) and optionally TensorBoard."""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


def require_tensorboard() -> type:
    """torch's ``SummaryWriter``; a clear error when the optional ``tensorboard`` package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("TensorBoard output needs the 'tensorboard' package, which is not installed "
                         "(pip install '.[tensorboard]'; the metrics are in the CSV files regardless)") from None
    return SummaryWriter


class MetricsLog:
    """Rows of scalars to a CSV file (header from the first row, flushed per row) and, when
    ``tensorboard_dir`` is given, to TensorBoard (needs the optional ``tensorboard`` package).
    The CSV is written to a hidden temporary file beside ``csv_path`` and renamed into place when the log
    closes without an error; a run that fails or is interrupted leaves no partial file."""

    def __init__(self, csv_path: str | os.PathLike, tensorboard_dir: str | os.PathLike | None = None,
                 step_key: str = "iteration") -> None:
        self.make_tensorboard = None
        if tensorboard_dir is not None:
            writer = require_tensorboard()
            self.make_tensorboard = lambda: writer(str(tensorboard_dir))
        self.path = Path(csv_path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self.step_key = step_key
        self.file: TextIO | None = None
        self.csv: csv.DictWriter | None = None
        self.tensorboard = None

    def write(self, row: Mapping[str, Any]) -> None:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.tmp.open("w", newline="")
            self.csv = csv.DictWriter(self.file, fieldnames=list(row))
            self.csv.writeheader()
            self.tensorboard = self.make_tensorboard() if self.make_tensorboard else None
        self.csv.writerow(row)
        self.file.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != self.step_key and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, row[self.step_key])

    def close(self, keep: bool = True) -> None:
        """Close; ``keep``: rename the CSV into place, else delete it."""
        if self.file is not None:
            self.file.close()
            self.file = None
            if keep:
                os.replace(self.tmp, self.path)
            self.tmp.unlink(missing_ok=True)
        if self.tensorboard is not None:
            self.tensorboard.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(keep=exc_type is None)
