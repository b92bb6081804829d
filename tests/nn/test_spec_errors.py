"""Malformed specs: each gives ONE SpecError whose message says what was expected, where.

Every case pins the message text and the 1-based line and column of the spot.
"""

from __future__ import annotations

import pytest

from cnnkit.errors import CnnkitError, SpecError
from cnnkit.nn.spec import from_spec, parse_spec

# (spec, a piece of the message, line, column)
SYNTAX_CASES = [
    ("INPUT -> CONV $", "unexpected character '$'", 1, 15),
    ("INPUT CONV", "expected '->' between layers, found 'CONV'", 1, 7),
    ("", "the spec is empty", 1, 1),
    ("   # only a comment\n", "the spec is empty", 2, 1),
    ("INPUT -> CONV ->", "expected a layer after '->', found end of spec", 1, 17),
    ("INPUT -> CONV(32, k=3 -> RELU", "expected ')' to close CONV( opened at column 14, found '->'", 1, 23),
    ("INPUT ->\nCONV(32,\n  k=3\n  -> RELU", "expected ')' to close CONV( opened at line 2, column 5, found '->'", 4, 3),
    ("INPUT -> CNOV", "unknown layer 'CNOV' (did you mean 'CONV'?)", 1, 10),
    ("INPUT -> WIBBLE", "unknown layer 'WIBBLE'; the layers are INPUT, CONV", 1, 10),
    ("INPUT -> CONV(32, kernal=3)", "CONV does not take argument 'kernal' (did you mean 'kernel'?)", 1, 19),
    ("INPUT -> [CONV]*x", "repeat count must be a whole number >= 0, found 'x'", 1, 17),
    ("INPUT -> [CONV]*-1", "repeat count must be a whole number >= 0, found '-1'", 1, 17),
    ("INPUT -> [CONV]*2.5", "repeat count must be a whole number >= 0, found '2.5'", 1, 17),
    ("INPUT -> [CONV]", "expected '*' and a repeat count after ']'", 1, 16),
    ("INPUT -> [CONV -> RELU *2", "expected ']' to close '[' opened at column 10, found '*'", 1, 24),
    ("INPUT -> [CONV -> RELU", "expected ']' to close '[' opened at column 10, found end of spec", 1, 23),
    ("INPUT -> []*2", "expected a layer after '[', found ']'", 1, 11),
    ("INPUT -> CONV*3", "a repeat needs brackets: write [CONV]*N", 1, 14),
    ("INPUT -> CONV)", "unexpected ')' with no '(' before it", 1, 14),
    ("INPUT -> CONV]", "unexpected ']' with no '[' before it", 1, 14),
    ("INPUT -> CONV??", "'?' is given twice", 1, 15),
    ("CONV -> INPUT", "a spec starts with INPUT", 1, 1),
    ("INPUT? -> FC", "INPUT cannot be optional", 1, 1),
    ("INPUT -> CONV -> INPUT", "INPUT may appear only once", 1, 18),
    ("INPUT -> CONV(32, k=0)", "CONV k (kernel) must be a whole number >= 1 or sizes like 3x5, found '0'", 1, 21),
    ("INPUT -> CONV(0)", "CONV filters must be a whole number >= 1, found '0'", 1, 15),
    ("INPUT -> CONV(p=sam)", "CONV p (padding) must be a whole number >= 0 or sizes like 3x5, 'same', "
     "'valid', found 'sam' (did you mean 'same'?)", 1, 17),  # fmt: skip
    ("INPUT -> CONV(mode=reflekt)", "CONV mode (padding_mode) must be one of zeros, replicate, reflect, "
     "circular, found 'reflekt' (did you mean 'reflect'?)", 1, 20),  # fmt: skip
    ("INPUT -> POOL(type=median)", "POOL type must be one of max, avg, stochastic, found 'median'", 1, 20),
    ("INPUT -> CONV(k=3, kernel=5)", "CONV got k/kernel twice; give it once", 1, 20),
    ("INPUT -> CONV(k=3, 5)", "CONV got the positional value '5' after a keyword argument", 1, 20),
    ("INPUT -> CONV(3, 5)", "CONV takes one positional argument (filters), found a second one '5'; name it, e.g. k=", 1, 18),
    ("INPUT -> DROPOUT(0.1, 0.2)", "DROPOUT takes one argument (p), found a second one '0.2'", 1, 23),
    ("INPUT -> RELU(2)", "RELU takes no arguments; write RELU alone", 1, 15),
    ("INPUT -> CONV(k=)", "expected a value after 'k=', found ')'", 1, 17),
    ("INPUT -> CONV(=3)", "expected an argument name before '='", 1, 15),
    ("INPUT -> CONV(,)", "expected an argument before ',' in CONV(", 1, 15),
    ("INPUT -> CONV(32 k=3)", "expected ',' between the arguments of CONV(, found 'k'", 1, 18),
    ("INPUT -> CONV(mode='reflect)", "unterminated string", 1, 20),
    ("INPUT(3x32x) -> FC", "malformed shape '3x32x'", 1, 7),
    ("INPUT -> CONV(k=5q)", "malformed number '5q'", 1, 17),
    ("INPUT(3x32x32x32x32) -> FC", "INPUT shape must be CxL, CxHxW or CxDxHxW", 1, 7),
    ("INPUT(3) -> FC", "INPUT shape must be CxL, CxHxW or CxDxHxW (whole numbers >= 1 joined by 'x'), "
     "e.g. 3x32x32, found '3'", 1, 7),  # fmt: skip
    # channels last, the usual image layout elsewhere: said at the shape, not layers later
    ("INPUT(32x32x3) -> CONV -> POOL -> FC", "INPUT shape must be channels first, found '32x32x3': "
     "shapes are CxHxW; did you mean 3x32x32?", 1, 7),  # fmt: skip
    ("INPUT(40x1) -> FC", "shapes are CxL; did you mean 1x40?", 1, 7),
    ("INPUT(16x32x32x1) -> FC", "shapes are CxDxHxW; did you mean 1x16x32x32?", 1, 7),
    ("INPUT -> DROPOUT(1.5)", "DROPOUT p must be a number from 0.0 up to (not including) 1.0, found '1.5'", 1, 18),
    ("INPUT -> CONV(bias=maybe)", "CONV bias must be true or false, found 'maybe'", 1, 20),
    ("INPUT -> LEAKYRELU(slope=x)", "LEAKYRELU slope must be a number, found 'x'", 1, 26),
    ("INPUT - CONV", "unexpected '-': layers are joined by '->'", 1, 7),
    ("INPUT -> [[CONV]*1000]*1000", "the spec expands to 1000001 layers, more than the limit of 10000", 1, 1),
    ("# a comment\nINPUT -> CONV(32)\n   -> RELU -> FC(10) FC", "expected '->' between layers, found 'FC'", 3, 22),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), SYNTAX_CASES)
def test_malformed_spec_names_what_was_expected_and_where(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    err = info.value
    assert message in err.message
    assert (err.line, err.column) == (line, column)
    # The rendered message points at the spot with a caret under the right column.
    rendered = str(err).splitlines()
    assert rendered[0].startswith(f"spec line {line}, column {column}: ")
    assert rendered[2].index("^") == column - 1 + 2  # two spaces of indent
    with pytest.raises(SpecError):  # from_spec fails the same way
        from_spec(text)


# Shape problems: (spec, message piece, line, column)
SHAPE_CASES = [
    (
        "INPUT(3x8x8) -> CONV(8, k=3) -> CONV(8, k=3) -> CONV(64, k=5)",
        "conv3 CONV(64, k=5): kernel 5 (dilated extent 5) is larger than the input 4x4",
        1,
        49,
    ),
    (
        "INPUT(3x4x4) -> CONV(8, k=3, p=1, d=3)",
        "conv1 CONV(8, k=3, p=1, d=3): kernel 3 (dilated extent 7) is larger than the padded input 6x6",
        1,
        17,
    ),
    (
        "INPUT(3x4x4) -> POOL -> POOL -> POOL",
        "pool3 POOL: window 2 larger than input 1x1 (mark it POOL? to skip it where it does not fit)",
        1,
        33,
    ),
    (
        "INPUT(3x4x4) -> DECONV(4, k=1, s=1, p=2)",
        "deconv1 DECONV(4, k=1, s=1, p=2): DECONV output would be empty: input 4x4 gives 0x0",
        1,
        17,
    ),
    (
        "INPUT -> CONV(8, k=4, s=2, p=same)",
        "conv1 CONV(8, k=4, s=2, p=same): p=same works only with stride 1 (torch keeps the size only then), "
        "found stride 2x2; give the padding as a number, e.g. p=1",
        1,
        10,
    ),
    ("INPUT -> CONV(8, groups=2)", "groups=2 must divide both the input channels 3 and the filters 8", 1, 10),
    ("INPUT -> FC\n -> CONV", "conv1 CONV: needs a feature map but the input here is already flat (10 features)", 2, 5),
    ("INPUT -> FLATTEN -> FLATTEN", "flatten FLATTEN: the input here is already flat (3072 features)", 1, 21),
    ("INPUT -> CONV(k=3x3x3)", "kernel 3x3x3 gives 3 sizes but the input has 2 spatial dimensions", 1, 10),
    ("INPUT -> DECONV(op=2)", "output padding 2 must be smaller than the stride 2 or the dilation 1", 1, 10),
    ("INPUT(3x2x2) -> CONV(4, p=2, mode=reflect)", "reflect padding 2 needs an input larger than 2, found 2x2", 1, 17),
    ("INPUT -> POOL(global, s=2)", "global pooling takes no stride or padding", 1, 10),
    ("INPUT -> POOL(3, p=2)", "pool padding 2 is more than half the window 3; use p <= 1", 1, 10),
    ("INPUT(1x1x1x1) -> AVGPOOL(2, p=1)", "window 2 larger than input 1x1x1 (3-D average pooling", 1, 19),
    ("INPUT(1x64x64) -> [DECONV(64, k=2, s=2)]*7", "deconv7 DECONV(64, k=2, s=2): its output 64x8192x8192 would "
     "hold 4,294,967,296 values per sample", 1, 20),  # fmt: skip
    ("INPUT(3x1000x1000) -> FC(100000)", "fc1 FC(100000): the model would have 300,000,100,000 parameters", 1, 23),
    ("INPUT(1x8x8) -> [CONV(4, k=3)]*4", "conv4 CONV(4, k=3): kernel 3 (dilated extent 3) is larger than the input 2x2", 1, 18),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), SHAPE_CASES)
def test_shape_problems_name_the_layer_place_and_sizes(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(SpecError) as info:
        from_spec(text)
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (line, column)


def test_optional_does_not_hide_argument_mistakes() -> None:
    # '?' skips layers that do not fit the size, not arguments that never work.
    with pytest.raises(SpecError, match="p=same works only with stride 1"):
        from_spec("INPUT -> CONV(8, s=2, p=same)?")


def test_num_classes_without_fc_says_to_add_one() -> None:
    with pytest.raises(SpecError, match="num_classes=5 was given but the spec has no FC layer") as info:
        from_spec("INPUT -> CONV -> GAP", num_classes=5)
    assert "add a final FC" in info.value.message
    with pytest.raises(SpecError, match="no FC layer"):  # an FC repeated zero times is no FC
        from_spec("INPUT -> [FC]*0", num_classes=5)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_num_classes_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(SpecError, match="num_classes must be a whole number >= 1"):
        from_spec("INPUT -> FC", num_classes=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [(3,), (0, 8, 8), (3, 8, 8, 8, 8), "3x8x8", (3, 8.0, 8), None.__class__])
def test_input_shape_must_be_a_shape(bad: object) -> None:
    with pytest.raises(SpecError, match="input_shape must be"):
        from_spec("INPUT -> FC", input_shape=bad)  # type: ignore[arg-type]


def test_input_shape_written_channels_last_says_the_layout() -> None:
    with pytest.raises(SpecError, match=r"input_shape=\(28, 28, 1\) looks channels last: shapes are CxHxW; "
                       r"did you mean 1x28x28\?"):  # fmt: skip
        from_spec("INPUT -> FC", input_shape=(28, 28, 1))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 1), (3, 8, 3), (2, 3, 3), (4, 8, 3), (64, 8, 8), (1, 40), (8, 40)])
def test_channels_first_shapes_are_not_mistaken_for_channels_last(shape: tuple[int, ...]) -> None:
    # the last size does not look like channels, or the others are too small for an image's sides
    assert from_spec("INPUT -> CONV(4, k=1)", input_shape=shape).input_shape == shape


def test_input_shape_that_contradicts_the_spec_is_an_error() -> None:
    with pytest.raises(SpecError, match=r"the spec says INPUT\(1x28x28\) but input_shape=3x32x32") as info:
        from_spec("INPUT(1x28x28) -> FC", input_shape=(3, 32, 32))
    assert (info.value.line, info.value.column) == (1, 1)
    assert from_spec("INPUT(1x28x28) -> FC", input_shape=(1, 28, 28)).input_shape == (1, 28, 28)


def test_spec_must_be_text() -> None:
    with pytest.raises(SpecError, match="a spec is text"):
        parse_spec(42)  # type: ignore[arg-type]


def test_spec_error_is_a_cnnkit_error() -> None:
    assert issubclass(SpecError, CnnkitError)
