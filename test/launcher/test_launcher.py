"""The project's launcher: prefixed output, failure stops the graph (reporting which node and why), Ctrl-C."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesa_ros import launcher
from mesa_ros.graph import NodeSpec

HERE = Path(__file__).resolve().parent


@pytest.fixture
def dummy(monkeypatch, tmp_path):
    monkeypatch.setitem(launcher.EXECUTABLES, "dummy", "dummy_node")
    params = tmp_path / "params.yaml"
    params.write_text("{}\n")
    return lambda name, **p: NodeSpec(name, "dummy", str(params), p, required=p.pop("required", False))


def run(specs) -> tuple[int, str, float]:
    out = io.StringIO()
    start = time.monotonic()
    code = launcher.Launcher(specs, env={"PYTHONPATH": str(HERE)}, out=out, stop_timeout=5).run()
    return code, out.getvalue(), time.monotonic() - start


def test_output_is_prefixed_and_a_required_node_ends_the_graph(dummy) -> None:
    code, out, seconds = run([dummy("sim", run_s=1, required=True), dummy("policy")])
    assert code == 0 and seconds < 30
    assert "[sim   ] hello from sim with {'run_s': 1}" in out
    assert "[policy] hello from policy" in out
    assert "required node sim finished; stopping the graph" in out
    assert "[policy] policy got SIGINT" in out  # the others were stopped with SIGINT, cleanly


def test_a_dying_node_stops_the_graph_and_is_named(dummy) -> None:
    code, out, seconds = run([dummy("sim", required=True), dummy("monitor", run_s=1, exit_code=3)])
    assert code == 1 and seconds < 30
    assert "node monitor died unexpectedly (exit code 3); stopping the graph" in out
    assert "[sim    ] sim got SIGINT" in out


def launched(tmp_path: Path) -> tuple[subprocess.Popen, list[str]]:
    """A launcher process with dummy nodes a and b, and its output up to both nodes' greeting."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); from mesa_ros import launcher;"
        "from mesa_ros.graph import NodeSpec; launcher.EXECUTABLES['dummy'] = 'dummy_node';"
        f"sys.exit(launcher.Launcher([NodeSpec(n, 'dummy', {str(tmp_path / 'p.yaml')!r}) for n in ('a', 'b')],"
        f" env={{'PYTHONPATH': {str(HERE)!r}}}).run())"
    )
    (tmp_path / "p.yaml").write_text("{}\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    lines: list[str] = []
    while len([line for line in lines if "hello from" in line]) < 2:
        lines.append(proc.stdout.readline())
    return proc, lines


def test_ctrl_c_is_propagated_to_every_node(tmp_path) -> None:
    proc, _ = launched(tmp_path)
    os.kill(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "[launcher] interrupted; stopping the graph" in rest
    assert "[a] a got SIGINT" in rest and "[b] b got SIGINT" in rest


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_nodes_stop_when_the_launcher_is_killed(tmp_path) -> None:
    """SIGKILL leaves the launcher no chance to stop its nodes (a test timeout, the OOM killer): they stop
    themselves instead of running on as orphans."""
    proc, lines = launched(tmp_path)
    pids = [int(line.split("pid ")[1].rstrip(")\n")) for line in lines if "[launcher] started" in line]
    assert len(pids) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.1)
    alive = [pid for pid in pids if running(pid)]
    assert not alive, f"orphaned nodes still running: {alive}"


def test_duplicate_node_names_and_unknown_executables_are_rejected(dummy) -> None:
    with pytest.raises(ValueError, match="node names must be unique"):
        launcher.Launcher([dummy("x"), dummy("x")])
    with pytest.raises(ValueError, match="unknown executable 'nope'"):
        launcher.node_command(NodeSpec("x", "nope", "p.yaml"), Path("o.yaml"))


def test_nodes_get_one_blas_thread_unless_the_caller_sets_it(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert launcher.Launcher([]).env["OPENBLAS_NUM_THREADS"] == "1"
    assert launcher.Launcher([], env={"OPENBLAS_NUM_THREADS": "2"}).env["OPENBLAS_NUM_THREADS"] == "2"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert launcher.Launcher([]).env["OPENBLAS_NUM_THREADS"] == "4"
