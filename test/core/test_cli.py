"""The learning commands of ``mesa-ros``: help, the smoke chain on Navigation-2, and bad input -> exit 2."""
from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mesa_ros.cli import COMMANDS, main
from mesa_ros.core import checkpoint
from mesa_ros.core.config import load_config
from mesa_ros.core.dataset import load
from mesa_ros.core.restore import env_spaces, load_datasets, new_agent
from mesa_ros.paths import share_dir

from safety_stages import build

torch.set_num_threads(1)
MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
SMOKE = ["--preset", "smoke", "--no-progress"]
LEARNING_COMMANDS = ["collect", "meta-train", "adapt", "train-online", "evaluate", "calibration"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("command", LEARNING_COMMANDS)
def test_help(command, capsys):
    assert command in COMMANDS
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: mesa-ros {command}" in out and "--seed" in out and "--preset" in out


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """collect -> meta-train (MESA) -> adapt -> train-online -> evaluate on Navigation-2, smoke preset."""
    d = tmp_path_factory.mktemp("chain")
    assert main(["collect", "--env", "Navigation-2", "--split", "train", "--out", str(d / "train"), *SMOKE]) == 0
    assert main(["collect", "--env", "Navigation-2", "--split", "test", "--out", str(d / "test.safetensors"),
                 *SMOKE]) == 0
    assert main(["meta-train", "--method", "mesa", "--data", str(d / "train"), "--out", str(d / "meta.safetensors"),
                 "--recovery-data", str(d / "test.safetensors"), "--log-every", "5", *SMOKE]) == 0
    assert main(["adapt", "--checkpoint", str(d / "meta.safetensors"), "--data", str(d / "test.safetensors"),
                 "--out", str(d / "adapted.safetensors"), "--no-progress"]) == 0
    assert main(["train-online", "--checkpoint", str(d / "adapted.safetensors"), "--data", str(d / "test.safetensors"),
                 "--out", str(d / "final.safetensors"), "--no-progress"]) == 0
    return d


def test_chain_outputs_exist_and_load(chain, capsys):
    train = sorted((chain / "train").glob("*.safetensors"))
    assert [p.name for p in train] == ["train_00.safetensors", "train_01.safetensors"]  # smoke: 2 training tasks
    assert {load(p).metadata.split for p in train} == {"train"} and len(load(train[0])) == 300
    test = load(chain / "test.safetensors")
    assert (test.metadata.split, len(test)) == ("test", 100)
    train_tasks = [load(p).metadata.task for p in train]
    assert train_tasks[0] != train_tasks[1] and test.metadata.task not in train_tasks  # an unseen test environment

    meta = checkpoint.load(chain / "meta.safetensors", env="Navigation-2")
    assert set(meta.tensors) == {"sac", "critic", "recovery"} and meta.extra["method"] == "mesa"
    assert meta.config["meta"]["iterations"] == 20 and meta.extra["stage"] == "meta-train"
    assert [int(r["iteration"]) for r in rows(chain / "meta.metrics.csv")] == [5, 10, 15, 20]
    for r in rows(chain / "meta.metrics.csv"):  # the spread of MAML's learned inner rates (one per tensor)
        assert 0 < float(r["min_inner_lr"]) <= float(r["mean_inner_lr"]) <= float(r["max_inner_lr"])

    adapted = checkpoint.load(chain / "adapted.safetensors")
    assert set(adapted.tensors) == {"sac", "critic", "recovery"} and adapted.extra["task"] == test.metadata.task
    assert adapted.config == meta.config  # adapt continued with the checkpoint's config
    # the untrained task policy travels unchanged until phase 3 trains it
    assert all(torch.equal(meta.tensors["sac"][k], adapted.tensors["sac"][k]) for k in meta.tensors["sac"])
    assert not torch.equal(meta.tensors["critic"]["q_risk.heads.0.layers.0.weight"],
                           adapted.tensors["critic"]["q_risk.heads.0.layers.0.weight"])

    final = checkpoint.load(chain / "final.safetensors")
    assert final.extra["stage"] == "online" and final.extra["task"] == test.metadata.task
    episodes = rows(chain / "final.episodes.csv")
    assert [int(r["episode"]) for r in episodes] == [1, 2, 3]
    assert not all(torch.equal(adapted.tensors["sac"][k], final.tensors["sac"][k]) for k in final.tensors["sac"])

    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(chain / "final.safetensors"), "--episodes", "2", "--no-progress",
                 "--csv", str(chain / "eval.csv")]) == 0
    out = capsys.readouterr().out
    assert "shield on: 2 episodes, mean return" in out and "violations" in out
    assert len(rows(chain / "eval.csv")) == 2
    assert main(["evaluate", "--checkpoint", str(chain / "final.safetensors"), "--episodes", "1", "--no-shield",
                 "--no-progress"]) == 0
    assert "shield off: 1 episodes" in capsys.readouterr().out


def test_chain_equals_the_in_process_build(chain):
    cfg = load_config("Navigation-2", "smoke")
    space = env_spaces("Navigation-2")
    layer = build("mesa", cfg, *space, new_agent(cfg, space).policy, load_datasets([chain / "train"]),
                  load(chain / "test.safetensors"), seed=cfg.seed)
    adapted = checkpoint.load(chain / "adapted.safetensors")
    for name, module in layer.modules().items():
        assert all(torch.equal(adapted.tensors[name][k], v) for k, v in module.state_dict().items()), name


def test_other_methods_through_the_cli(chain, capsys):
    d = chain
    assert main(["meta-train", "--method", "multitask", "--data", str(d / "train" / "train_00.safetensors"),
                 str(d / "train" / "train_01.safetensors"), "--out", str(d / "mt.safetensors"), *SMOKE]) == 0
    assert main(["adapt", "--checkpoint", str(d / "mt.safetensors"), "--data", str(d / "test.safetensors"),
                 "--out", str(d / "mt_adapted.safetensors"), "--no-progress"]) == 0
    assert main(["adapt", "--method", "rrl", "--data", str(d / "test.safetensors"),
                 "--out", str(d / "rrl.safetensors"), *SMOKE]) == 0
    rrl = checkpoint.load(d / "rrl.safetensors")
    assert rrl.extra["method"] == "rrl" and rrl.config["critic"]["twin"] is True
    assert main(["train-online", "--checkpoint", str(d / "rrl.safetensors"), "--episodes", "1",
                 "--out", str(d / "rrl_final.safetensors"), "--no-progress"]) == 0
    assert main(["train-online", "--method", "unconstrained", "--env", "Navigation-2", "--episodes", "2",
                 "--out", str(d / "sac.safetensors"), *SMOKE]) == 0
    sac = checkpoint.load(d / "sac.safetensors")
    assert set(sac.tensors) == {"sac"} and len(rows(d / "sac.episodes.csv")) == 2
    assert "shield none in checkpoint" in _evaluate(d / "sac.safetensors", capsys)


def test_calibration_of_the_adapted_critic(chain, capsys):
    capsys.readouterr()
    assert main(["calibration", "--checkpoint", str(chain / "adapted.safetensors"),
                 "--data", str(chain / "test.safetensors")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "gamma_risk 0.65, eps_risk 0.1" in lines[0]  # Navigation-2's values, from the checkpoint's config
    bins = {line.split()[0]: int(line.split()[1]) for line in lines[2:-1]}
    assert sum(bins.values()) == 100  # every test transition falls into one distance bin
    violations = int(lines[0].split(" transitions, ")[1].split()[0])
    assert bins.get("0", 0) == violations  # d = 0 exactly at the violations
    # the foresight line: states 1-10 steps before a violation and the later ones, up to each episode's first
    assert lines[-1].startswith("foresight, 1-10 steps before a violation (") and "AUC " in lines[-1]
    counted = [int(x.split(")")[0]) for x in lines[-1].split("(")[1:3]]
    assert sum(counted) <= 100 - violations and counted[0] <= bins.get("1-3", 0) + bins.get("4-10", 0)


def _evaluate(path: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(path), "--episodes", "1", "--no-progress"]) == 0
    return capsys.readouterr().out


def bad_inputs(d: Path) -> list[tuple[list[str], str]]:
    test, meta = str(d / "test.safetensors"), str(d / "meta.safetensors")
    cheetah = share_dir() / "config" / "checkpoints" / "halfcheetah_disabled"
    return [
        (["adapt", "--method", "rrl", "--data", str(d / "missing.safetensors"), "--out", "x"], "does not exist"),
        (["adapt", "--method", "rrl", "--data", str(d / "corrupt.safetensors"), "--out", "x"],
         "not a readable safetensors file"),
        (["evaluate", "--checkpoint", str(d / "corrupt.safetensors")], "not a valid safetensors checkpoint"),
        (["evaluate", "--checkpoint", str(d / "missing.safetensors")], "does not exist"),
        (["evaluate", "--checkpoint", str(d / "final.safetensors"), "--env", "Navigation-1"],
         "was trained on 'Navigation-2', not 'Navigation-1'"),
        (["collect", "--env", "Navigation-3", "--out", "x"], "unknown environment 'Navigation-3'"),
        (["calibration", "--checkpoint", str(d / "sac.safetensors"), "--data", test], "holds no critic"),
        (["calibration", "--checkpoint", meta, "--data", str(d / "nav1.safetensors")],
         "was trained on 'Navigation-2', not 'Navigation-1'"),
        (["calibration", "--checkpoint", meta, "--data", str(d / "missing.safetensors")], "does not exist"),
        (["calibration", "--checkpoint", meta, "--data", test, "--horizon", "0"], "--horizon must be at least 1"),
        (["meta-train", "--method", "mesa", "--data", str(d / "train"), "--out", "x", "--set", "meta.nope=1"],
         "unknown config key 'meta.nope'"),
        (["meta-train", "--method", "mesa", "--data", str(d / "train"), "--out", "x", "--preset", "huge"],
         "unknown preset 'huge'"),
        (["meta-train", "--method", "carl", "--data", str(d / "train"), "--out", "x"], "plans through a learned model"),
        (["meta-train", "--method", "rrl", "--data", str(d / "train"), "--out", "x"], "has no stage on the training"),
        (["meta-train", "--method", "mesa", "--data", test, "--out", "x"], "this step needs 'train'-split data"),
        (["detector", "fit", "--policy", str(d / "missing.safetensors"), "--out", "x"], "does not exist"),
        (["detector", "fit", "--policy", str(cheetah / "policy.safetensors"), "--out", "x", "--set", "drift=0"],
         "config value drift=0.0 out of range"),
        (["detector", "evaluate", "--detector", str(cheetah / "policy.safetensors"), "--policy",
          str(cheetah / "policy.safetensors"), "--out", "x"], "is not a change-detector file"),
        (["detector", "evaluate", "--detector", str(cheetah / "detector.safetensors"), "--policy",
          str(cheetah / "policy.safetensors"), "--out", "x", "--fault", "{bad"], "is not JSON"),
        (["detector", "evaluate", "--detector", str(cheetah / "detector.safetensors"), "--policy",
          str(cheetah / "policy.safetensors"), "--out", "x", "--fault", '{"tail": 0}', "--runs", "1"],
         "unknown joint(s) ['tail']"),
        (["detector", "evaluate", "--detector", str(cheetah / "detector.safetensors"), "--policy",
          str(cheetah / "policy.safetensors"), "--out", "x", "--fault", '{"ffoot": 1.5}', "--runs", "1"],
         "power scale for 'ffoot' must be in [0, 1], got 1.5"),
        (["detector", "evaluate", "--detector", str(cheetah / "detector.safetensors"), "--policy",
          str(cheetah / "policy.safetensors"), "--out", "x", "--hours", "0"], "--hours must be > 0"),
        (["adapt", "--checkpoint", str(d / "final.safetensors"), "--data", str(d / "nav1.safetensors"), "--out", "x"],
         "was trained on 'Navigation-2', not 'Navigation-1'"),
        (["adapt", "--method", "mesa", "--data", test, "--out", "x"], "adapts the layer of its offline stage"),
        (["train-online", "--checkpoint", meta, "--out", "x"], "is not adapted to the test environment (no phase 2)"),
        (["train-online", "--method", "mesa", "--env", "Navigation-2", "--out", "x"], "needs --checkpoint"),
        (["train-online", "--env", "Navigation-2", "--task", "{B: 1", "--out", "x"], "--task must be a JSON object"),
        (["train-online", "--env", "Navigation-2", "--task", '{"B": [1, -1]}', "--out", "x", *SMOKE],
         "B[1] must be a finite number"),
    ]


def test_bad_input_exits_2_with_a_message(chain, capsys, tmp_path, monkeypatch):
    (chain / "corrupt.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    assert main(["collect", "--env", "Navigation-1", "--out", str(chain / "nav1.safetensors"), *SMOKE]) == 0
    monkeypatch.chdir(tmp_path)  # where the commands would write "x" and its CSV
    for argv, message in bad_inputs(chain):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"mesa-ros {argv[0]}: error: ") and message in err, (argv, err)
        assert list(tmp_path.iterdir()) == [], argv  # nothing written


def test_entry_point_reports_errors_without_traceback(tmp_path):
    result = subprocess.run([str(MESA_ROS), "adapt", "--method", "rrl", "--data", str(tmp_path / "none.safetensors"),
                             "--out", str(tmp_path / "x.safetensors")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("mesa-ros adapt: error: transition dataset") and "Traceback" not in result.stderr


def test_bad_output_paths_exit_2_and_change_nothing(chain, capsys, tmp_path):
    test, meta, adapted = (
        str(chain / "test.safetensors"),
        str(chain / "meta.safetensors"),
        chain / "adapted.safetensors",
    )
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    adapt = ["adapt", "--checkpoint", meta, "--data", test, "--no-progress", "--out"]
    cases = [
        ([*adapt, str(tmp_path / "adir")], "is a directory; give a file path"),
        ([*adapt, str(adapted)], "exists; pass --force to overwrite it"),
        ([*adapt, test, "--force"], "is also an input; write to another path"),
        ([*adapt, str(tmp_path / "afile" / "x.safetensors")], "afile is a file, not a directory"),
        (["collect", "--env", "Navigation-2", "--split", "test", "--transitions", "0",
          "--out", str(tmp_path / "c.safetensors"), *SMOKE], "--transitions must be >= 1, got 0"),
        (["meta-train", "--method", "mesa", "--data", str(chain / "train"), "--out", str(tmp_path / "m.safetensors"),
          "--metrics", str(tmp_path / "adir"), *SMOKE], "is a directory"),
        (["train-online", "--checkpoint", str(adapted), "--out", str(tmp_path / "o.safetensors"),
          "--csv", str(tmp_path / "afile"), "--no-progress"], "exists; pass --force"),
    ]
    before = {p: p.read_bytes() for p in [*chain.rglob("*"), *tmp_path.rglob("*")] if p.is_file()}
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"mesa-ros {argv[0]}: error: ") and message in err and err.count("\n") == 1, (argv, err)
    after = {p: p.read_bytes() for p in [*chain.rglob("*"), *tmp_path.rglob("*")] if p.is_file()}
    assert after == before  # nothing written, nothing overwritten, no temporary file
    assert main([*adapt, str(adapted), "--force"]) == 0  # with --force the same output is replaced


def test_ctrl_c_leaves_no_traceback_and_no_partial_file(chain, tmp_path):
    out = tmp_path / "m.safetensors"
    proc = subprocess.Popen([str(MESA_ROS), "meta-train", "--method", "mesa", "--data", str(chain / "train"),
                             "--out", str(out), "--log-every", "1", *SMOKE, "--set", "meta.iterations=1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".*.tmp*")) and time.monotonic() < deadline:  # iterating: the metrics are logged
        time.sleep(0.1)
    assert list(tmp_path.glob(".*.tmp*")), "meta-train never started logging"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err, err
    assert list(tmp_path.iterdir()) == []  # neither the checkpoint, nor the metrics CSV, nor a temporary file


def test_without_the_tensorboard_package_tensorboard_is_a_clear_error(chain, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the optional extra were absent
    for argv in (["meta-train", "--method", "mesa", "--data", str(chain / "train"), "--out", str(tmp_path / "m")],
                 ["adapt", "--checkpoint", str(chain / "meta.safetensors"), "--data", str(chain / "test.safetensors"),
                  "--out", str(tmp_path / "a")]):
        assert main([*argv, "--tensorboard", str(tmp_path / "tb"), *SMOKE]) == 2, argv
        assert "needs the 'tensorboard' package" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def scalars(run_dir: Path) -> dict[str, int]:
    """TensorBoard scalar tags of a run directory -> number of points."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_the_phase_2_steps_and_the_phase_3_episodes(chain, tmp_path):
    adapted, final = tmp_path / "adapted.safetensors", tmp_path / "final.safetensors"
    assert main(["adapt", "--checkpoint", str(chain / "meta.safetensors"), "--data", str(chain / "test.safetensors"),
                 "--out", str(adapted), "--tensorboard", str(tmp_path / "tb" / "adapt"), "--no-progress"]) == 0
    steps = len((tmp_path / "adapted.metrics.csv").read_text().splitlines()) - 1
    assert steps > 1 and scalars(tmp_path / "tb" / "adapt")["critic_loss"] == steps
    assert main(["train-online", "--checkpoint", str(adapted), "--data", str(chain / "test.safetensors"),
                 "--out", str(final), "--tensorboard", str(tmp_path / "tb" / "online"), "--no-progress"]) == 0
    episodes = scalars(tmp_path / "tb" / "online")
    assert episodes["return"] == len((tmp_path / "final.episodes.csv").read_text().splitlines()) - 1
