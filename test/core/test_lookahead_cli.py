"""``mesa-ros lookahead`` end to end at smoke size for the shipped policy: record its perturbed behaviour under two
training faults -> fit (one fault held out by --exclude) -> adapt on post-fault transitions -> evaluate both ways.
Bad input is one line naming what was wrong, and writes nothing."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from mesa_ros.cli import main
from mesa_ros.core import checkpoint
from mesa_ros.paths import config_file

torch.set_num_threads(1)
ENV = "HalfCheetah-Disabled"
POLICY = str(config_file("checkpoints/halfcheetah_disabled/policy.safetensors"))


def collect(out, fault: str, n: int, seed: int, perturbed: bool = True) -> None:
    noise = ["--action-noise", "0.3", "--random-stretch", "0.01", "20"] if perturbed else []
    assert main(["collect", "--env", ENV, "--split", "train" if perturbed else "test", "--task",
                 f'{{"power_scale": {{"{fault}": 0}}}}', "--policy", POLICY, "--deterministic", *noise,
                 "--transitions", str(n), "--seed", str(seed), "--out", str(out), "--no-progress"]) == 0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("lookahead")
    for i, fault in enumerate(("bthigh", "bfoot", "fshin")):
        collect(d / "train" / f"{fault}.safetensors", fault, 1000, i)
    collect(d / "post.safetensors", "fshin", 200, 7, perturbed=False)
    assert main(["lookahead", "fit", "--data", str(d / "train"), "--exclude", "fshin", "--policy", POLICY,
                 "--out", str(d / "fit.safetensors"), "--preset", "smoke", "--no-progress"]) == 0
    return d


def test_fit_adapt_evaluate(fitted, capsys) -> None:
    d = fitted
    fit = checkpoint.load(d / "fit.safetensors")
    assert sorted(fit.tensors) == ["catastrophe", "ensemble", "rehearsal", "sac"]
    assert fit.extra["train_transitions"] == 2000  # fshin held out
    assert len(fit.tensors["rehearsal"]["s"]) == 200  # smoke: lookahead.rehearsal
    actor = {k: v for k, v in checkpoint.load(POLICY).tensors["sac"].items() if k.startswith("actor.")}
    assert sorted(fit.tensors["sac"]) == sorted(actor)  # it rolls out the policy it was given
    for name, tensor in actor.items():
        assert torch.equal(fit.tensors["sac"][name], tensor), name

    assert main(["lookahead", "adapt", "--checkpoint", str(d / "fit.safetensors"), "--data",
                 str(d / "post.safetensors"), "--out", str(d / "adapted.safetensors")]) == 0
    adapted = checkpoint.load(d / "adapted.safetensors")
    assert adapted.extra["post_transitions"] == 200 and adapted.extra["task"]["power_scale"]["fshin"] == 0
    assert not torch.equal(adapted.tensors["ensemble"]["out.weight"], fit.tensors["ensemble"]["out.weight"])
    assert torch.equal(adapted.tensors["catastrophe"]["net.layers.0.weight"],
                       fit.tensors["catastrophe"]["net.layers.0.weight"])  # a fall is still a fall

    capsys.readouterr()
    assert main(["lookahead", "evaluate", "--checkpoint", str(d / "adapted.safetensors"), "--task",
                 '{"power_scale": {"fshin": 0}}', "--episodes", "2", "--csv", str(d / "eval.csv"),
                 "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["none", "shield"]
    rows = list(csv.DictReader(open(d / "eval.csv")))
    assert [r["mode"] for r in rows] == ["none", "none", "shield", "shield"]
    unshielded = [float(r["override_rate"]) for r in rows if r["mode"] == "none"]
    assert unshielded == [0.0, 0.0] and np.isfinite([float(r["return"]) for r in rows]).all()


@pytest.mark.parametrize(("argv", "message"), [
    (["fit", "--data", "{d}/train", "--exclude", "ffoot", "--policy", POLICY, "--out", "{d}/x.safetensors"],
     "--exclude ['ffoot']: no such dataset"),
    (["fit", "--data", "{d}/train", "--policy", "{d}/post.safetensors", "--out", "{d}/x.safetensors"],
     "is not a mesa_ros checkpoint"),
    (["adapt", "--checkpoint", POLICY, "--data", "{d}/post.safetensors", "--out", "{d}/x.safetensors"],
     "is not a lookahead checkpoint: no module(s) ['catastrophe', 'ensemble', 'rehearsal']"),
    (["evaluate", "--checkpoint", "{d}/fit.safetensors", "--task", '{"power_scale": {"fshin": 0}}', "--modes",
      "none,sheild"], "--modes: expected a comma-separated list of none, shield; got 'none,sheild'"),
    (["evaluate", "--checkpoint", "{d}/fit.safetensors", "--task", "{", "--csv", "{d}/x.csv"], "task"),
    (["fit", "--data", "{d}/train", "--policy", POLICY, "--out", "{d}/x.safetensors", "--set",
      "lookahead.judge=maybe"], "lookahead.judge='maybe'"),
])
def test_bad_input_is_one_line_and_writes_nothing(fitted, capsys, argv, message) -> None:
    d = fitted
    capsys.readouterr()
    assert main(["lookahead", *[a.replace("{d}", str(d)) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mesa-ros lookahead: error:") and message in err and len(err.splitlines()) == 1
    assert not (d / "x.safetensors").exists() and not (d / "x.csv").exists()


def test_a_bag_among_the_training_data_is_kept_and_can_be_excluded(fitted, monkeypatch, tmp_path) -> None:
    """A recording of the graph is one dataset source, not a directory to search for dataset files."""
    from mesa_ros.cli import lookahead

    bag = tmp_path / "robot_bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    seen = []
    monkeypatch.setattr(lookahead, "load_datasets", lambda paths, split: seen.append(paths) or ["loaded"])
    assert lookahead._without([str(fitted / "train"), str(bag)], ["bfoot"]) == ["loaded"]
    assert [Path(f).name for f in seen[0]] == ["bthigh.safetensors", "fshin.safetensors", "robot_bag"]
    lookahead._without([str(fitted / "train"), str(bag)], ["robot_bag"])
    assert [Path(f).name for f in seen[1]] == ["bfoot.safetensors", "bthigh.safetensors", "fshin.safetensors"]
