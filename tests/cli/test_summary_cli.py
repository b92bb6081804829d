"""`cnnkit summary` through Typer's runner, and its errors through main()."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cnnkit.cli.app import app, main

runner = CliRunner()
SPEC = "INPUT(1x28x28) -> CONV(4, k=3) -> RELU -> POOL(2) -> FC(10)"


def test_table_when_piped() -> None:
    result = runner.invoke(app, ["summary", SPEC])
    assert result.exit_code == 0, result.output
    assert "features.conv1" in result.output and "Conv2d" in result.output
    assert "4x26x26" in result.output
    assert "Parameters: 6,810" in result.output  # (9+1)*4 + 676*10 + 10


def test_markdown_json_and_input() -> None:
    md = runner.invoke(app, ["summary", SPEC, "--format", "markdown"])
    assert md.exit_code == 0 and md.output.startswith("| # | Layer |")
    for flags in (["--json"], ["-f", "json"]):
        out = runner.invoke(app, ["summary", SPEC, *flags])
        data = json.loads(out.output)
        assert data["rows"][0]["output_shape"] == [4, 26, 26]
    small = runner.invoke(app, ["summary", "INPUT(1x28x28) -> CONV(4, k=3) -> RELU", "--input", "1x10x10", "--json"])
    assert json.loads(small.output)["rows"][0]["output_shape"] == [4, 8, 8]


def test_explain_and_batch_size() -> None:
    out = runner.invoke(app, ["summary", SPEC, "--explain", "conv1"])
    assert out.exit_code == 0
    assert "(3*3*1/1 + 1)*4 = 40" in out.output
    data = json.loads(runner.invoke(app, ["summary", SPEC, "--explain", "0", "--json"]).output)
    assert data["layer"]["name"] == "features.conv1" and "floor(" in data["explanation"]
    one = json.loads(runner.invoke(app, ["summary", SPEC, "--json"]).output)["totals"]
    many = json.loads(runner.invoke(app, ["summary", SPEC, "--json", "-b", "8"]).output)["totals"]
    assert many["activation_bytes"] == 8 * one["activation_bytes"]


def test_lecture() -> None:
    from cnnkit.nn.build import MODELS, _load_zoo

    _load_zoo()
    if "lenet5" not in MODELS:
        pytest.skip("the zoo has no lenet5 yet")
    out = runner.invoke(app, ["summary", "--lecture"])
    assert out.exit_code == 0, out.output
    assert "CONV1 (Layer 1)" in out.output and "forgetting the 3 input channels" in out.output
    data = json.loads(runner.invoke(app, ["summary", "--lecture", "--json"]).output)
    assert [len(t["rows"]) for t in data] == [8, 13]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", SPEC, "--input", "3xfoo"], "is not a shape"),
        (["summary", "resnt18"], "did you mean 'resnet18'"),
        (["summary", SPEC, "--explain", "cnv1"], "did you mean"),
        (["summary"], "give a model"),
        (["summary", "INPUT(1x28x28) -> CONV(4, k=3) -> POOL(2) -> FC(10)", "--input", "1x3x3"], "does not fit"),
        # channels last: said before a bare INPUT takes 32 channels of 32x3 and fails later
        (["summary", "INPUT -> CONV -> POOL -> FC", "--input", "32x32x3"], "did you mean 3x32x32?"),
        (["summary", "resnet18", "--input", "224x224x3"], "did you mean 3x224x224?"),
    ],
)
def test_errors_exit_2_with_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "named"),
    [(["resnet18"], "'resnet18'"), (["--input", "3x32x32"], "--input"), (["--explain", "conv1"], "--explain")],
)
def test_lecture_takes_no_model_or_model_options(extra: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["summary", "--lecture", *extra])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: --lecture") and named in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["photo.png", "folder"])
def test_an_existing_file_that_is_no_spec_file_is_named_so(name: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.mkdir() if name == "folder" else path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(SystemExit) as stop:
        main(["summary", str(path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "not a spec file" in err and ".spec" in err and "unknown model" not in err


def test_a_spec_file_still_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "net.spec"
    path.write_text(SPEC)
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 0 and "Parameters: 6,810" in result.output
