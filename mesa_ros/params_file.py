"""Checking a node parameter file before any node starts: one clear error instead of a traceback per node.

Checked: the file exists and is YAML; each top-level key is a node of the graph (or the ``/**`` wildcard)
holding a ``ros__parameters`` mapping; each parameter is one the node declares. The declared names are
read from the node modules' source (their ``declare(self, "<name>", ...)`` and ``declare(self, wire.<NAME>,
...)`` calls and the start gate's), without importing rclpy.
"""
from __future__ import annotations

import ast
import importlib.util
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mesa_ros import wire

BUILT_IN = frozenset({"use_sim_time"})  # declared by rclpy itself
GATE_MODULE = "mesa_ros.nodes.start_gate"


def _name(arg: ast.expr) -> str | None:
    """A parameter name given as a string literal or as a ``wire.<NAME>`` constant."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "wire":
        return getattr(wire, arg.attr, None)
    return None


@cache
def declared_parameters(module: str) -> frozenset[str]:
    """Names passed as the second argument of ``declare(...)`` calls in ``module``'s source."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"no source for module {module}")
    tree = ast.parse(Path(spec.origin).read_text())
    names = (_name(call.args[1]) for call in ast.walk(tree)
             if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "declare" and len(call.args) > 1)
    return frozenset(name for name in names if name is not None)


def check_params_file(path: str, nodes: Mapping[str, str]) -> None:
    """``ValueError`` naming what is wrong in ``path`` for ``nodes`` (node name -> module)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"params file {file} does not exist")
    try:
        doc = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"params file {file} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"params file {file}: the top level must map node names to their parameters")
    for node, section in doc.items():
        if node != "/**" and node.lstrip("/") not in nodes:
            raise ValueError(f"params file {file}: unknown node {node!r}; the graph has {sorted(nodes)} (or '/**')")
        if not isinstance(section, dict) or set(section) != {"ros__parameters"} \
                or not isinstance(section["ros__parameters"], dict):
            raise ValueError(f"params file {file}: {node!r} must hold exactly one 'ros__parameters' mapping")
        known = set(BUILT_IN) if node == "/**" else (
            BUILT_IN | declared_parameters(nodes[node.lstrip("/")]) | declared_parameters(GATE_MODULE))
        for name in _flatten(section["ros__parameters"]):
            if name not in known:
                raise ValueError(f"params file {file}: node {node!r} has no parameter {name!r}; "
                                 f"it declares {sorted(known)}")


def parameter(path: str, node: str, name: str, default: Any) -> Any:
    """The value a checked params file gives ``node``'s parameter ``name`` (dotted for nested keys), else
    ``default``."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    section = (doc.get(node) or doc.get(f"/{node}") or {}).get("ros__parameters", {})
    for key in name.split("."):
        if not isinstance(section, dict) or key not in section:
            return default
        section = section[key]
    return section


def _flatten(params: Mapping, prefix: str = "") -> list[str]:
    """``{"fault": {"power_scale": 0}}`` -> ``["fault.power_scale"]`` (ROS 2 reads nested keys with dots)."""
    names: list[str] = []
    for key, value in params.items():
        names += _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return names


def check_graph_params(specs: Sequence, executables: Mapping[str, str]) -> None:
    """Every parameter file of a graph's node specs, checked once against every node the graph can start
    (a section for a node this configuration leaves out, e.g. the recorder, is fine)."""
    nodes = {**executables, **{s.name: executables[s.executable] for s in specs}}
    for path in sorted({s.params_file for s in specs}):
        check_params_file(path, nodes)
