"""Interrupt, resume, continue: messages that agree with each other, a report that keeps the
command that started the run, and ``--more N`` for a finished run (a new learning-rate cycle)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tinydata import SMALL_CNN, tiny_splits

from cnnkit.errors import RunError
from cnnkit.train.cycles import MORE_LR_FACTOR, MORE_WARMUP_SHARE, run_schedule
from cnnkit.train.schedule import Schedule
from cnnkit.train.trainer import train

OPTIONS = dict(epochs=3, batch_size=32, lr=0.05, augment="none", progress=False, quiet=True, seed=1, warmup_epochs=1.0)
TINY = ["--data", "digits", "--limit", "120", "--epochs", "2", "--batch-size", "32", "--augment", "none"]


@pytest.mark.parametrize("kind", ["onecycle", "cosine", "constant"])
def test_each_cycle_is_the_schedule_over_its_own_steps(kind: str) -> None:
    spe = 7
    more = [{"after_epoch": 4, "epochs": 3, "lr": 0.02}, {"after_epoch": 7, "epochs": 8, "lr": 0.01}]
    sched = run_schedule(kind=kind, lr=0.2, epochs=15, warmup_epochs=1.5, more=more, steps_per_epoch=spe)
    first = Schedule(kind, 0.2, 4 * spe, round(1.5 * spe))
    second = Schedule(kind, 0.02, 3 * spe, round(min(1.5, MORE_WARMUP_SHARE * 3) * spe))
    third = Schedule(kind, 0.01, 8 * spe, round(1.5 * spe))
    assert sched.curve() == first.curve() + second.curve() + third.curve()
    with pytest.raises(RunError, match="config.json says 14 epochs but its cycles add up to 15"):
        run_schedule(kind=kind, lr=0.2, epochs=14, warmup_epochs=1.5, more=more, steps_per_epoch=spe)


def test_more_continues_a_finished_run_in_a_new_cycle(tmp_path: Path) -> None:
    out = tmp_path / "r"
    train(SMALL_CNN, tiny_splits(), out=out, command="cnnkit train SPEC --epochs 3", **OPTIONS)
    before = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    result = train(data=tiny_splits(), out=out, resume=True, more=2, quiet=True, progress=False,
                   command="cnnkit train --resume r --more 2")  # fmt: skip
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5] and records[:3] == before
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 5 and config["command"] == "cnnkit train SPEC --epochs 3"
    assert config["more"] == [{"after_epoch": 3, "epochs": 2, "lr": pytest.approx(0.05 * MORE_LR_FACTOR),
                               "command": "cnnkit train --resume r --more 2"}]  # fmt: skip
    # the learning rate each epoch ended with is the cycle schedule's at its last step
    spe = records[0]["step"]
    sched = run_schedule(kind="onecycle", lr=0.05, epochs=5, warmup_epochs=1.0, more=config["more"], steps_per_epoch=spe)
    assert [r["lr"] for r in records] == [sched.lr(r["step"] - 1) for r in records]
    assert records[3]["lr"] <= 0.05 * MORE_LR_FACTOR < records[0]["lr"]
    assert len(result.metrics) == 5

    report = (out / "report.md").read_text()
    assert report.index("cnnkit train SPEC --epochs 3") < report.index("cnnkit train --resume r --more 2")


def test_resume_keeps_the_command_that_started_the_run(tmp_path: Path, ctrl_c_at_epoch: Callable) -> None:
    with ctrl_c_at_epoch(2), pytest.raises(KeyboardInterrupt):
        train(SMALL_CNN, tiny_splits(), out=tmp_path / "r", command="cnnkit train ORIGINAL", **OPTIONS)
    train(data=tiny_splits(), out=tmp_path / "r", resume=True, quiet=True, progress=False, command="cnnkit train --resume r")
    report = (tmp_path / "r" / "report.md").read_text()
    assert "cnnkit train ORIGINAL" in report and "--resume" not in report


def test_more_needs_a_finished_run(tmp_path: Path, ctrl_c_at_epoch: Callable) -> None:
    with ctrl_c_at_epoch(2), pytest.raises(KeyboardInterrupt):
        train(SMALL_CNN, tiny_splits(), out=tmp_path / "r", **OPTIONS)
    with pytest.raises(RunError, match=r"has not finished; first finish it with `cnnkit train --resume .*`"):
        train(data=tiny_splits(), out=tmp_path / "r", resume=True, more=2, quiet=True)
    with pytest.raises(RunError, match="more= continues a finished run"):
        train(SMALL_CNN, tiny_splits(), more=2, **OPTIONS)


def test_stopped_before_the_first_epoch_the_same_command_starts_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable, ctrl_c_at_epoch: Callable
) -> None:
    monkeypatch.chdir(tmp_path)
    with ctrl_c_at_epoch(1):
        code, _, err = run_cli(["train", *TINY, "--out", "runs/fm1"])
    assert code == 130
    assert err.strip().splitlines()[-1] == ("interrupted before the first epoch finished; nothing was saved in runs/fm1 "
                                            "to resume: run the same command again to start over")
    code, out, err = run_cli(["train", *TINY, "--out", "runs/fm1"])  # what the message said
    assert code == 0, err
    assert "run: runs/fm1" in out

    code, out, err = run_cli(["train", *TINY, "--out", "runs/fm1"])  # now it holds a finished run
    assert code == 2 and "already holds a finished run; choose another run directory" in err and "--name" not in err


@pytest.mark.parametrize(
    "config, what, command",
    [
        ({"kind": "detect", "command": "cnnkit detect train"}, "a detector run", "`cnnkit detect train`"),
        ({"kind": "faces", "command": None}, "a face embedding run", "`cnnkit faces train`"),
        ({"command": "detect localize", "model": "quicknet"}, "a localizer run", "`cnnkit detect localize`"),
    ],
)
def test_resume_of_another_commands_run_names_it(config: dict, what: str, command: str, tmp_path: Path, cli_error: Callable) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    line = cli_error(["train", "--resume", str(tmp_path)])
    assert line == (f"error: {tmp_path} is {what} (from {command}); `cnnkit train --resume` continues classifier "
                    f"runs only, and {command} cannot resume a run yet: train again with {command} --out NEW_FOLDER")
