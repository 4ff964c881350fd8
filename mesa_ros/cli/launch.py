"""``mesa-ros launch <graph> [name:=value ...]``: start a node graph without the ROS 2 launch system.

Reads the same description as ``launch/<graph>.launch.py`` (mesa_ros/graph.py); arguments use the
``ros2 launch`` syntax. Ctrl-C stops every node; a node that dies stops the graph (exit code 1).
"""
from __future__ import annotations

import argparse

from mesa_ros.graph import GRAPHS, get_graph
from mesa_ros.launcher import Launcher


def parse_launch_args(items: list[str]) -> dict[str, str]:
    """``["seed:=3", "shield:=off"]`` -> ``{"seed": "3", "shield": "off"}``."""
    values = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"launch argument {item!r} must look like name:=value")
        values[name] = value
    return values


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    epilog = "\n".join(f"{g.name} arguments:\n" + "\n".join(
        f"  {a.name}:={a.default or repr('')}  {a.description}" + (f" {list(a.choices)}" if a.choices else "")
        for a in g.args) for g in GRAPHS.values())
    p = sub.add_parser(name, help="start a node graph (same description as launch/*.launch.py)", description=__doc__,
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("graph", choices=sorted(GRAPHS), help="graph to start")
    p.add_argument("arguments", nargs="*", metavar="name:=value", help="launch arguments")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = get_graph(args.graph)
    specs = graph.nodes(graph.resolve(parse_launch_args(args.arguments)))
    return Launcher(specs).run()
