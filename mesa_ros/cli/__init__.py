"""``mesa-ros``: the project's command-line interface (one sub-command per module in this package)."""
from __future__ import annotations

import argparse
import sys

from mesa_ros.cli import (
    adapt,
    bag2dataset,
    calibration,
    collect,
    demo,
    detector,
    evaluate,
    experiment,
    fault,
    launch,
    lookahead,
    meta_train,
    train_online,
)

COMMANDS = {
    "demo": demo,
    "collect": collect,
    "meta-train": meta_train,
    "adapt": adapt,
    "train-online": train_online,
    "evaluate": evaluate,
    "calibration": calibration,
    "lookahead": lookahead,
    "detector": detector,
    "experiment": experiment,
    "bag2dataset": bag2dataset,
    "launch": launch,
    "fault": fault,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mesa-ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub, name)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError) as exc:  # bad input, a missing file, a disk or permission error: one line
        print(f"mesa-ros {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outputs are written atomically: nothing partial is left behind
        print(f"mesa-ros {args.command}: interrupted; no output written for the unfinished step", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
