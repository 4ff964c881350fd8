"""Split bag writing and reading with rosbags/mcap, and the errors for bad bags."""
from __future__ import annotations

import numpy as np
import pytest

from mesa_ros.core.bag_dataset import bag_to_datasets
from mesa_ros.core.bags import TYPESTORE, SplitBagWriter, bag_splits, custom_data, read_messages

JOINT_STATE = "sensor_msgs/msg/JointState"


def joint_state(stamp_ns: int, values) -> bytes:
    types = TYPESTORE.types
    msg = types[JOINT_STATE](
        header=types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](
            sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=""),
        name=[f"j{i}" for i in range(len(values))], position=np.asarray(values, dtype=np.float64),
        velocity=np.zeros(0), effort=np.zeros(0))
    return bytes(TYPESTORE.serialize_cdr(msg, JOINT_STATE))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_split_writer_rolls_over_and_reads_back_in_order(tmp_path, storage: str) -> None:
    writer = SplitBagWriter(tmp_path / "rec", {"/a": JOINT_STATE}, storage=storage, split_messages=4)
    for k in range(10):
        writer.write("/a", k, joint_state(k, [k / 3]))
    writer.close()
    assert [p.name for p in bag_splits(tmp_path / "rec")] == ["rec_0000", "rec_0001", "rec_0002"]
    values = [m.position[0] for _, _, m in read_messages(tmp_path / "rec")]
    assert values == [k / 3 for k in range(10)]  # float64 bit for bit


def test_writer_rejects_bad_setup(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown bag storage 'zip'"):
        SplitBagWriter(tmp_path / "x", {"/a": JOINT_STATE}, storage="zip")
    with pytest.raises(ValueError, match="unknown message type 'foo/msg/Bar'"):
        SplitBagWriter(tmp_path / "x", {"/a": "foo/msg/Bar"})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ValueError, match="exists and is not empty"):
        SplitBagWriter(tmp_path / "full", {"/a": JOINT_STATE})
    writer = SplitBagWriter(tmp_path / "ok", {"/a": JOINT_STATE})
    with pytest.raises(ValueError, match="topic '/b' is not recorded"):
        writer.write("/b", 0, b"")


def test_missing_corrupt_and_empty_bags_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(read_messages(tmp_path / "nope"))
    (tmp_path / "file.mcap").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not a directory"):
        list(read_messages(tmp_path / "file.mcap"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="contains no rosbag2 bag"):
        list(read_messages(tmp_path / "empty"))
    writer = SplitBagWriter(tmp_path / "rec", {"/a": JOINT_STATE})
    writer.write("/a", 0, joint_state(0, [1.0]))
    writer.close()
    (mcap,) = (tmp_path / "rec" / "rec_0000").glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[:40])  # corrupt a closed split
    with pytest.raises(ValueError, match="bag split .*rec_0000 is corrupt"):
        list(read_messages(tmp_path / "rec"))
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "x.db3").write_bytes(b"")
    with pytest.raises(ValueError, match="no metadata.yaml and no .mcap file to recover"):
        list(read_messages(tmp_path / "bare"))


def test_bag_without_transitions_is_a_clear_error(tmp_path) -> None:
    writer = SplitBagWriter(tmp_path / "rec", {"/other": JOINT_STATE})
    writer.write("/other", 0, joint_state(0, [1.0]))
    writer.close()
    with pytest.raises(ValueError, match="holds no complete transition"):
        bag_to_datasets(tmp_path / "rec")


@pytest.mark.parametrize("closed", [True, False])
def test_a_topic_of_another_message_type_is_named_with_both_types(tmp_path, closed: bool) -> None:
    types = TYPESTORE.types
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="x")
    writer = SplitBagWriter(tmp_path / "rec", {"/mujoco_sim/state": "std_msgs/msg/Header"})
    writer.write("/mujoco_sim/state", 0, bytes(TYPESTORE.serialize_cdr(header, "std_msgs/msg/Header")))
    writer.close()
    if not closed:  # as if the recorder died: the MCAP split without its metadata
        next((tmp_path / "rec").glob("*/metadata.yaml")).unlink()
    with pytest.raises(ValueError, match="topic /mujoco_sim/state carries std_msgs/msg/Header, "
                                         "expected sensor_msgs/msg/JointState"):
        bag_to_datasets(tmp_path / "rec")


@pytest.mark.parametrize("compression", ["zstd", "none"])
@pytest.mark.parametrize("closed", [True, False])
def test_compressed_and_plain_bags_read_back_the_same_messages(tmp_path, compression: str, closed: bool) -> None:
    writer = SplitBagWriter(tmp_path / "rec", {"/a": JOINT_STATE}, compression=compression,
                            custom_data={"mesa_ros.env": "Navigation-2"})
    for k in range(300):
        writer.write("/a", k, joint_state(k, np.full(20, k / 7)))
    writer.close()
    if not closed:  # as if the recorder died: the split's metadata is gone, its chunks stay
        next((tmp_path / "rec").glob("*/metadata.yaml")).unlink()
    assert [m.position[0] for _, _, m in read_messages(tmp_path / "rec")] == [k / 7 for k in range(300)]
    assert custom_data(tmp_path / "rec") == ({"mesa_ros.env": "Navigation-2"} if closed else {})


def test_zstd_makes_the_bag_smaller_and_bad_compression_or_custom_data_is_refused(tmp_path) -> None:
    sizes = {}
    for compression in ("zstd", "none"):
        writer = SplitBagWriter(tmp_path / compression, {"/a": JOINT_STATE}, compression=compression)
        for k in range(2000):
            writer.write("/a", k, joint_state(k, np.round(np.sin(np.arange(20) + k / 50), 3)))
        writer.close()
        sizes[compression] = sum(p.stat().st_size for p in (tmp_path / compression).rglob("*.mcap"))
    assert sizes["zstd"] < sizes["none"] / 2
    with pytest.raises(ValueError, match="unknown bag compression 'lz5'"):
        SplitBagWriter(tmp_path / "x", {"/a": JOINT_STATE}, compression="lz5")
    with pytest.raises(ValueError, match="custom_data must map strings to strings"):
        SplitBagWriter(tmp_path / "y", {"/a": JOINT_STATE}, custom_data={"k": 1})
