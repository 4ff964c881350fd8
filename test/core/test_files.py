"""Output paths checked before any work; atomic writes leave nothing partial."""
from __future__ import annotations

import os

import pytest

from mesa_ros.core.files import atomic, check_output


def test_an_unwritable_folder_is_named(tmp_path, monkeypatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(ValueError, match=f"cannot write .*: {tmp_path} is not writable"):
        check_output(tmp_path / "new" / "out.safetensors")  # the nearest existing folder decides
    assert not (tmp_path / "new").exists()


def test_a_failed_write_leaves_neither_the_target_nor_the_temporary_file(tmp_path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]
