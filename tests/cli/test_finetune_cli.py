"""`cnnkit finetune`: train a tiny source, fine-tune it on a folder of RGB images, use the run.

The source is a real `cnnkit train` run on a few hundred bundled digits (1x16x16); the
target is a folder of 3 classes of coloured PNGs the test draws, converted to the
source's one grey channel. Errors go through main(): one line on stderr, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnkit.cli import app as app_module
from cnnkit.cli import finetune as finetune_cli
from cnnkit.cli.app import main

if "finetune" not in {
    c.name for c in app_module.app.registered_commands
}:  # until app.py wires it in
    finetune_cli.register(app_module.app)

SOURCE_ARGS = ["--data", "digits", "--input", "1x16x16", "--limit", "150", "--epochs", "1", "--batch-size", "32",
               "--augment", "none", "--quiet"]  # fmt: skip


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "src"
    with pytest.raises(SystemExit) as stop:  # typer's standalone mode exits 0
        main(["train", "quicknet", *SOURCE_ARGS, "--out", str(out)])
    assert not stop.value.code
    return out


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """folder: dataset, 3 classes x 10 RGB images of 20x20 (a red square, a green bar, a blue cross)."""
    root = tmp_path_factory.mktemp("shapes")
    for name, colour, boxes in [
        ("square", (220, 40, 40), [(5, 5, 15, 15)]),
        ("bar", (40, 200, 40), [(8, 2, 12, 18)]),
        ("cross", (40, 40, 220), [(2, 8, 18, 12), (8, 2, 12, 18)]),
    ]:
        (root / name).mkdir()
        for i in range(10):
            image = Image.new("RGB", (20, 20), (10 * i, 10, 10))
            for x0, y0, x1, y1 in boxes:
                image.paste(colour, (x0 + i % 3 - 1, y0, x1 + i % 3 - 1, y1))
            image.save(root / name / f"{i}.png")
    return root


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["finetune", "--help"], capsys)
    assert code == 0
    assert (
        "Examples:" in out
        and "cnnkit finetune runs/fmnist --data digits --freeze 2" in out
    )
    assert "--freeze-until" in out and "--pretrained" in out and "--per-class" in out


def test_finetune_json_then_eval_and_predict(
    source: Path, shapes: Path, tmp_path: Path, capsys
) -> None:
    out_dir = tmp_path / "shapes-ft"
    code, out, err = run(
        ["finetune", str(source), "--data", f"folder:{shapes}", "--freeze", "2", "--epochs", "2",
         "--augment", "none", "--out", str(out_dir), "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["classes"] == ["bar", "cross", "square"]
    transfer = result["config"]["transfer"]
    assert (
        transfer["source"]["source"] == str(source)
        and transfer["source"]["dataset"] == "digits"
    )
    assert transfer["frozen"]["frozen_layers"] == [
        "features.stage1.conv1",
        "features.stage1.conv2",
    ]
    assert result["config"]["input_shape"] == [1, 16, 16]

    code, out, err = run(["eval", str(out_dir), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(result["test"]["accuracy"])
    code, out, err = run(
        ["predict", str(out_dir), str(shapes / "cross" / "3.png"), "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)[0]["error"] is None


def test_plain_output_through_clirunner(source: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app_module.app,
        ["finetune", str(source), "--data", "digits", "--freeze", "all", "--per-class", "4", "--limit", "200",
         "--epochs", "1", "--augment", "none", "--out", str(tmp_path / "probe")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"source: {source}" in result.output
    assert "frozen: 6 of 6 weighted layers (all but the classifier)" in result.output
    assert (
        "training examples: 40, lr 0.04" in result.output
        and "test accuracy:" in result.output
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["runs/not-there", "--data", "digits"], "no run directory at runs/not-there"),
        (
            ["SOURCE", "--data", "digits", "--freeze-until", "features.stage7"],
            "has no layer 'features.stage7'",
        ),
        (
            ["SOURCE", "--data", "digits", "--freeze", "9"],
            "cannot freeze 9 weighted layers",
        ),
        (
            [
                "SOURCE",
                "--data",
                "digits",
                "--freeze",
                "2",
                "--freeze-until",
                "features.stage1",
            ],
            "not both",
        ),
        (["SOURCE"], "give the target dataset with --data"),
        (["resnet18", "--data", "digits"], "needs weights: --pretrained DEFAULT"),
        (["SOURCE", "--data", "digitz"], "did you mean 'digits'"),
        (["--resume", "NOWHERE"], "nothing to resume"),
    ],
)
def test_user_errors_are_one_line(
    args: list[str], message: str, source: Path, tmp_path: Path, capsys
) -> None:
    args = [
        str(source) if a == "SOURCE" else str(tmp_path / "x") if a == "NOWHERE" else a
        for a in args
    ]
    out = [] if "--resume" in args else ["--out", str(tmp_path / "out")]  # --resume takes no --out
    code, _, err = run(["finetune", *args, *out], capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.startswith("error: ")


@pytest.mark.parametrize(
    ("extra", "named"),
    [(["--epochs", "5"], ["--epochs"]), (["--freeze", "2", "--lr", "0.01"], ["--freeze", "--lr"]), (["SOURCE"], ["RUN_OR_MODEL"])],
)
def test_resume_with_other_options_is_an_error(extra: list[str], named: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    extra = [str(tmp_path / "src") if a == "SOURCE" else a for a in extra]
    code, _, err = run(["finetune", "--resume", str(tmp_path / "run"), *extra], capsys)
    assert code == 2 and err.startswith("error: --resume") and err.count("\n") == 1
    assert all(flag in err for flag in named)
