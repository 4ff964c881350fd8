"""Writing output files safely, in one place: checked before any work, written atomically.

``check_output`` runs before a command does anything, so a bad path costs nothing and changes nothing;
``atomic`` writes to a hidden temporary file beside the target and renames it into place only on success
(an error or Ctrl-C leaves neither a partial file nor the temporary one).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), force: bool = False) -> Path:
    """``path`` as a Path if a file may be written there, else ``ValueError`` saying why (nothing is created)."""
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"output {out} is a directory; give a file path")
    if out.exists() and not force:
        raise ValueError(f"output {out} exists; pass --force to overwrite it")
    resolved = out.resolve()
    for source in inputs:
        if Path(source).resolve() == resolved:
            raise ValueError(f"output {out} is also an input; write to another path")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"cannot write {out}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {out}: {ancestor} is not writable")
    return out


@contextmanager
def atomic(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block succeeds (removed otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, doc: Mapping[str, object]) -> None:
    """``doc`` as indented JSON, written atomically (``files.atomic``)."""
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
