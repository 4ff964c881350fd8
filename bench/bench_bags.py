"""Bag size and write cost with and without zstd chunk compression, on the graph's own messages.

Records the cheetah_fault graph for ``--steps`` control steps (lockstep, fault at step 1000, every topic the
recorder takes by default), then rewrites the same serialized messages with ``compression`` ``zstd`` and
``none`` (``SplitBagWriter``, the recorder's writer) and reports bytes per message, the size ratio, and the
write time per message against the time between messages at 20 Hz (the recorder's real-time budget).

    .venv/bin/python bench/bench_bags.py [--steps 3000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rosbags.highlevel import AnyReader

from mesa_ros import wire
from mesa_ros.core.bags import TYPESTORE, SplitBagWriter, bag_splits

from results_file import save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "graph"
        subprocess.run([sys.executable, "-m", "mesa_ros.cli", "launch", "cheetah_fault", f"max_steps:={args.steps}",
                        "record_bag:=true", f"bag_dir:={bag}", "fault:=ffoot"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with AnyReader(bag_splits(bag), default_typestore=TYPESTORE) as reader:
            messages = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
        figures = {"steps": args.steps, "messages": len(messages)}
        for compression in ("none", "zstd"):
            times, size = [], 0
            for r in range(args.repeats):
                out = Path(tmp) / f"{compression}{r}"
                start = time.perf_counter()
                writer = SplitBagWriter(out, wire.RECORDED, compression=compression)
                for topic, stamp, data in messages:
                    writer.write(topic, stamp, data)
                writer.close()
                times.append(time.perf_counter() - start)
                size = sum(p.stat().st_size for p in out.rglob("*.mcap"))
            per_message_us = min(times) / len(messages) * 1e6
            figures[compression] = {"bytes": size, "bytes_per_message": round(size / len(messages), 1),
                                    "write_us_per_message": round(per_message_us, 2)}
            print(f"{compression:>5}: {size / 1e6:7.2f} MB ({size / len(messages):6.1f} B/message), "
                  f"write {per_message_us:6.1f} us/message (best of {args.repeats})")
    ratio = figures["none"]["bytes"] / figures["zstd"]["bytes"]
    per_step_us = 1e6 / 20 / (len(messages) / args.steps)  # time between messages at 20 Hz control
    figures["size_ratio"] = round(ratio, 2)
    figures["zstd_write_share_of_20hz_budget"] = round(figures["zstd"]["write_us_per_message"] / per_step_us, 4)
    print(f"zstd bags are {ratio:.1f}x smaller; writing one message costs "
          f"{figures['zstd_write_share_of_20hz_budget']:.2%} of the time between messages at 20 Hz")
    save("bench_bags", load_start, figures)


if __name__ == "__main__":
    main()
