"""``mesa-ros bag2dataset``: rosbag2 recordings of the graph -> datasets of the transition schema.

Transitions are rebuilt by stamp (state, command, step outcome) and split where the recorded fault
changed, one dataset per fault: ``<out>/<split>_NN.safetensors``. Bags are recording roots written by
``bag_recorder`` (a directory of split bags) or single rosbag2 bags; a split whose recorder died is
recovered as far as its file allows. ``mesa-ros meta-train --data`` also takes bag directories directly.

Example::

    mesa-ros bag2dataset bags/run_20261122_101500 --out data/from_robot
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mesa_ros.cli.common import paper_name
from mesa_ros.core.bag_dataset import bag_to_datasets
from mesa_ros.core.bags import ReadReport


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="convert rosbag2 recordings of the graph into datasets", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bags", nargs="+", help="recording directories or rosbag2 bags")
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--env", default="HalfCheetah-Disabled", help="environment the graph simulated")
    p.add_argument("--split", choices=("train", "test"), default="train", help="split recorded in the metadata")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = len(list(out.glob(f"{args.split}_*.safetensors")))
    for bag in args.bags:
        report = ReadReport()
        datasets = bag_to_datasets(bag, paper_name(args.env), args.split, report=report)
        recovered = f", recovered from unclosed splits: {report.recovered}" if report.recovered else ""
        print(f"{bag}: {report.messages} messages in {len(report.splits)} split(s){recovered}")
        for dataset in datasets:
            path = dataset.save(out / f"{args.split}_{index:02d}.safetensors")
            print(f"  {path}: {dataset.summary()}")
            index += 1
    return 0
