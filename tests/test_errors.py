"""CnnkitError messages: one line for plain errors, a caret under the spot for spec errors."""

from __future__ import annotations

from cnnkit.errors import CnnkitError, SpecError, did_you_mean


def test_spec_error_points_at_line_and_column() -> None:
    text = "INPUT(1x28x28)\n-> CONV(8, k=3\n-> FC(10)"
    err = SpecError("expected ')'", text=text, line=2, column=15)
    lines = str(err).splitlines()
    assert lines[0] == "spec line 2, column 15: expected ')'"
    assert lines[1] == "  -> CONV(8, k=3"
    # The caret sits under column 15 of the quoted line (after the two-space indent).
    assert lines[2].index("^") == 2 + 15 - 1
    assert isinstance(err, CnnkitError)


def test_spec_error_without_position_is_the_message() -> None:
    assert str(SpecError("FC needs a known input size")) == "FC needs a known input size"


def test_did_you_mean_suggests_close_names_only() -> None:
    assert did_you_mean("resnt18", ["resnet18", "vgg16"]) == " (did you mean 'resnet18'?)"
    assert did_you_mean("RESNET18", ["resnet18"]) == " (did you mean 'resnet18'?)"
    assert did_you_mean("xyz", ["resnet18", "vgg16"]) == ""
