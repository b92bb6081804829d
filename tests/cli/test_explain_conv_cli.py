"""`cnnkit explain-conv` through Typer's CliRunner and through main() for errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cnnkit.cli.app import app, main
from cnnkit.cli.explain_conv import load_values
from cnnkit.errors import CnnkitError

runner = CliRunner()


def conv_of(data: dict, **opts: int) -> torch.Tensor:
    """Reference output volume for JSON numbers, computed by torch."""
    x, w = (torch.tensor(data[k], dtype=torch.float64) for k in ("input", "weight"))
    b = torch.tensor(data["bias"], dtype=torch.float64)
    return F.conv2d(x[None], w, b, **opts)[0]


def test_default_text_output() -> None:
    result = runner.invoke(app, ["explain-conv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "floor((5 + 2*1 - 3) / 2) + 1 = 3" in result.output
    assert sum(t.startswith("out[") for t in lines) == 18  # all 2x3x3 cells in full
    assert "Output volume (2x3x3):" in result.output
    assert max(len(t) for t in lines) <= 96


def test_json_output_matches_conv2d() -> None:
    result = runner.invoke(app, ["explain-conv", "--json", "--stride", "1", "--padding", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = conv_of(data, stride=1, padding=2)
    torch.testing.assert_close(torch.tensor(data["output"], dtype=torch.float64), expected)
    cell = data["cells"][0]
    assert sum(cell["channel_sums"]) + cell["bias"] == cell["total"] == expected[0, 0, 0].item()


def test_values_file_and_single_cell(tmp_path: Path) -> None:
    values = {
        "input": [[[1, 0, 2], [0, 1, 1], [2, 2, 0]], [[0, 1, 0], [1, 0, 1], [0, 1, 0]]],
        "weight": [[[[1, 0], [0, -1]], [[0.5, 0], [0, 0.5]]]],
        "bias": [1],
    }
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(values))
    result = runner.invoke(app, ["explain-conv", "--values", str(path), "--stride", "1", "--padding", "0", "--json"])
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(
        torch.tensor(json.loads(result.output)["output"], dtype=torch.float64), conv_of(values, stride=1, padding=0)
    )
    result = runner.invoke(
        app, ["explain-conv", "--values", str(path), "--stride", "1", "--padding", "0", "--cell", "0,1,1"]
    )
    assert result.exit_code == 0, result.output
    # out[0,1,1]: ch0 window [[1,1],[2,0]] . [[1,0],[0,-1]] = 1; ch1 [[0,1],[1,0]] . 0.5*I = 0
    assert "out[f=0, i=1, j=1] = 1 + 0 + bias 1 = 2" in result.output
    assert "  ch0: (1*1)+(1*0)+(2*0)+(0*-1) = 1" in result.output
    assert sum(t.startswith("out[") for t in result.output.splitlines()) == 1


def test_own_values_get_torchs_conv2d_defaults_not_the_examples(tmp_path: Path) -> None:
    # stride 2 / padding 1 belong to the generated example; a --values file is convolved as
    # torch's Conv2d does by default (stride 1, padding 0)
    values = {"input": [[[1, 0, 2, 1], [0, 1, 1, 0], [2, 2, 0, 1], [1, 0, 1, 2]]], "weight": [[[[1, 0], [0, -1]]]],
              "bias": [1]}  # fmt: skip
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(values))
    result = runner.invoke(app, ["explain-conv", "--values", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    reference = torch.nn.Conv2d(1, 1, 2)  # torch's defaults
    expected = conv_of(values, stride=reference.stride, padding=reference.padding)
    torch.testing.assert_close(torch.tensor(data["output"], dtype=torch.float64), expected)
    assert (data["stride"], data["padding"]) == (reference.stride[0], reference.padding[0])
    text = runner.invoke(app, ["explain-conv", "--values", str(path)]).output
    assert "Stride 1, zero padding 0" in text
    # the options still apply to one's own numbers
    result = runner.invoke(app, ["explain-conv", "--values", str(path), "--padding", "1", "--json"])
    torch.testing.assert_close(torch.tensor(json.loads(result.output)["output"], dtype=torch.float64),
                               conv_of(values, stride=1, padding=1))  # fmt: skip


def test_big_input_is_summarised() -> None:
    result = runner.invoke(app, ["explain-conv", "--input-size", "16", "--max-cells", "4"])
    assert result.exit_code == 0, result.output
    total = 2 * 8 * 8
    assert f"{total - 4} more of the {total} cells not shown" in result.output
    assert "--cell" in result.output


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["explain-conv", "--help"])
    assert result.exit_code == 0
    assert "cnnkit explain-conv --cell 1,2,0" in result.output


BAD_FILES = {
    "missing_key": ('{"input": [[[1, 2], [3, 4]]]}', "'weight' is missing"),
    "wrong_nesting": ('{"input": [[1, 2], [3, 4]], "weight": [[[[1]]]]}', "where a list was expected"),
    "ragged": ('{"input": [[[1, 2], [3]]], "weight": [[[[1]]]]}', "different lengths"),
    "kernel_too_big": ('{"input": [[[1, 2], [3, 4]]], "weight": [[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]]}',
                       "larger than the padded"),
    "string": ('{"input": [[[1, "x"], [3, 4]]], "weight": [[[[1]]]]}', "not a number"),
    "boolean": ('{"input": [[[1, true], [3, 4]]], "weight": [[[[1]]]]}', "not a number"),
    "not_json": ('{"input": [[[1, 2]]', "not valid JSON"),
    "unknown_key": ('{"input": [[[1]]], "weights": [[[[1]]]]}', "did you mean 'weight'"),
    "channel_mismatch": ('{"input": [[[1]], [[2]]], "weight": [[[[1]]]]}', "channels"),
    "bias_count": ('{"input": [[[1]]], "weight": [[[[1]]]], "bias": [1, 2]}', "one bias per filter"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_values_file_exits_2_with_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text, message = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    # --padding 0 so that the 3x3 kernel cannot fit the 2x2 input
    with pytest.raises(SystemExit) as exc:
        main(["explain-conv", "--values", str(path), "--padding", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(path) in err and message in err


def test_load_values_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CnnkitError, match="does not exist"):
        load_values(tmp_path / "nope.json")


@pytest.mark.parametrize("args", [["--cell", "1,2"], ["--cell", "5,0,0"], ["--channels", "0"]])
def test_bad_options_exit_2(args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["explain-conv", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
