"""Recursive-descent parser: tokens -> :class:`~cnnkit.nn.spec.nodes.Spec`.

The grammar (see docs/grammar.md)::

    spec   := item ( '->' item )*
    item   := layer [ '?' ]  |  '[' spec ']' '*' INT [ '?' ]
    layer  := NAME [ '(' [ arg ( ',' arg )* [ ',' ] ] ')' ]
    arg    := value | NAME '=' value
    value  := INT | FLOAT | NAME | SHAPE | STRING

Each rule reports the first token it cannot use, naming what it expected there, as
one :class:`~cnnkit.errors.SpecError` with the token's line and column. Layer names
and arguments are checked against ``schema.LAYERS`` while parsing, so a returned
Spec is known to be well formed (shapes are the builder's business).
"""

from __future__ import annotations

from cnnkit.errors import SpecError
from cnnkit.nn.spec import schema
from cnnkit.nn.spec.lexer import Token, tokenize
from cnnkit.nn.spec.nodes import Arg, Item, Layer, Repeat, Spec, Value, expanded_size

__all__ = ["MAX_LAYERS", "parse_spec"]

MAX_LAYERS = 10_000  # a spec that expands to more is a typo in a repeat count
_VALUE_KINDS = {"INT": "int", "FLOAT": "float", "SHAPE": "shape", "STRING": "string", "NAME": "word"}


def _squeeze(source: str) -> str:
    """Source text on one line: comments dropped, runs of whitespace made one space."""
    lines = [line.split("#", 1)[0] for line in source.splitlines()]
    return " ".join(" ".join(lines).split()).replace("( ", "(").replace(" )", ")")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, message: str, token: Token | None = None) -> SpecError:
        token = token or self.tok
        return SpecError(message, text=self.text, line=token.line, column=token.column)

    def where(self, opener: Token) -> str:
        """'column 12', or 'line 2, column 12' when the opener is on another line."""
        if opener.line == self.tok.line:
            return f"column {opener.column}"
        return f"line {opener.line}, column {opener.column}"

    # -- rules -----------------------------------------------------------------------

    def spec(self) -> Spec:
        if self.tok.kind == "EOF":
            raise self.error(
                "the spec is empty; write layers joined by '->', "
                "e.g. INPUT(3x32x32) -> CONV -> RELU -> FC"
            )
        items = self.sequence(opener=None)
        return Spec(self.text, items)

    def sequence(self, opener: Token | None) -> list[Item]:
        """Items joined by '->' up to EOF (top level) or ']' (inside brackets)."""
        items = [self.item(after=opener)]
        while True:
            tok = self.tok
            if tok.kind == "ARROW":
                arrow = self.advance()
                items.append(self.item(after=arrow))
            elif tok.kind == "EOF" and opener is None:
                return items
            elif tok.kind == "RBRACK" and opener is not None:
                return items
            else:
                raise self.unexpected_after_item(tok, opener)

    def unexpected_after_item(self, tok: Token, opener: Token | None) -> SpecError:
        if tok.kind == "STAR" and opener is None:
            last = self.tokens[self.i - 1]
            return self.error(f"a repeat needs brackets: write [{last.text}]*N, e.g. [CONV -> RELU]*2")
        if tok.kind == "EOF":
            assert opener is not None
            return self.error(f"expected ']' to close '[' opened at {self.where(opener)}, found end of spec")
        if tok.kind == "RBRACK":
            return self.error("unexpected ']' with no '[' before it; remove it or add the '['")
        if tok.kind == "RPAREN":
            return self.error("unexpected ')' with no '(' before it; remove it or add the '('")
        if tok.kind == "QMARK":
            return self.error("'?' is given twice; one '?' marks the layer optional")
        if opener is not None and tok.kind != "NAME" and tok.kind != "LBRACK":
            return self.error(f"expected ']' to close '[' opened at {self.where(opener)}, found {tok.describe()}")
        return self.error(f"expected '->' between layers, found {tok.describe()}")

    def item(self, after: Token | None) -> Item:
        tok = self.tok
        if tok.kind == "LBRACK":
            return self.repeat()
        if tok.kind == "NAME":
            return self.layer()
        if after is None:
            expected = "expected a layer name such as INPUT or CONV"
        elif after.kind == "ARROW":
            expected = "expected a layer after '->'"
        else:
            expected = "expected a layer after '['"
        raise self.error(f"{expected}, found {tok.describe()}")

    def repeat(self) -> Repeat:
        opener = self.advance()  # '['
        body = self.sequence(opener=opener)
        self.advance()  # ']' (sequence stops only there)
        if self.tok.kind != "STAR":
            raise self.error(
                f"expected '*' and a repeat count after ']', e.g. [CONV -> RELU]*2, found {self.tok.describe()}"
            )
        self.advance()
        count_tok = self.tok
        if count_tok.kind != "INT" or not isinstance(count_tok.value, int) or count_tok.value < 0:
            raise self.error(f"repeat count must be a whole number >= 0, found {count_tok.describe()}")
        self.advance()
        optional = self.question_mark()
        end = self.tokens[self.i - 1].end
        source = _squeeze(self.text[opener.start : end]).rstrip("?")
        return Repeat(body, count_tok.value, optional, source, opener.line, opener.column)

    def question_mark(self) -> bool:
        if self.tok.kind == "QMARK":
            self.advance()
            return True
        return False

    def layer(self) -> Layer:
        name = self.advance()
        kind = schema.lookup(name.text, text=self.text, line=name.line, column=name.column)
        args: list[Arg] = []
        end = name.end
        if self.tok.kind == "LPAREN":
            args, end = self.arguments(name)
        options = schema.resolve_args(name.text, kind, args, text=self.text)
        source = _squeeze(self.text[name.start : end])
        optional = self.question_mark()
        return Layer(
            name=name.text,
            kind=kind.kind,
            args=args,
            options=options,
            optional=optional,
            bare=not args,
            source=source,
            line=name.line,
            column=name.column,
        )

    def arguments(self, name: Token) -> tuple[list[Arg], int]:
        """'(' [arg (',' arg)* [',']] ')' -> the args and the offset after ')'."""
        opener = self.advance()  # '('
        args: list[Arg] = []
        while self.tok.kind != "RPAREN":
            args.append(self.argument(name, opener))
            if self.tok.kind == "COMMA":
                self.advance()
            elif self.tok.kind != "RPAREN":
                raise self.unclosed(name, opener)
        closer = self.advance()
        return args, closer.end

    def unclosed(self, name: Token, opener: Token) -> SpecError:
        tok = self.tok
        if tok.kind in _VALUE_KINDS:
            return self.error(f"expected ',' between the arguments of {name.text.upper()}(, found {tok.describe()}")
        return self.error(
            f"expected ')' to close {name.text.upper()}( opened at {self.where(opener)}, found {tok.describe()}"
        )

    def argument(self, name: Token, opener: Token) -> Arg:
        tok = self.tok
        if tok.kind == "NAME" and self.tokens[self.i + 1].kind == "EQUALS":
            self.advance()
            equals = self.advance()
            if self.tok.kind not in _VALUE_KINDS:
                raise self.error(f"expected a value after '{tok.text}=', found {self.tok.describe()}")
            del equals
            return Arg(tok.text.lower(), self.value(), tok.line, tok.column)
        if tok.kind in _VALUE_KINDS:
            return Arg(None, self.value(), tok.line, tok.column)
        if tok.kind == "EQUALS":
            raise self.error(f"expected an argument name before '=', e.g. {name.text.upper()}(k=3)")
        if tok.kind == "COMMA":
            raise self.error(f"expected an argument before ',' in {name.text.upper()}(, found ','")
        raise self.unclosed(name, opener)

    def value(self) -> Value:
        tok = self.advance()
        return Value(_VALUE_KINDS[tok.kind], tok.text, tok.value, tok.line, tok.column)


def _check_structure(spec: Spec) -> None:
    """INPUT comes first, exactly once, not optional; the expansion stays reasonable."""
    first = spec.items[0]
    text = spec.text
    if not (isinstance(first, Layer) and first.kind == "INPUT"):
        raise SpecError(
            "a spec starts with INPUT, e.g. INPUT(3x32x32) -> ... (or a bare INPUT for 3x32x32)",
            text=text,
            line=first.line,
            column=first.column,
        )
    if first.optional:
        raise SpecError("INPUT cannot be optional; remove the '?'", text=text, line=first.line, column=first.column)
    for layer in spec.layers()[1:]:
        if layer.kind == "INPUT":
            raise SpecError(
                "INPUT may appear only once, at the start; join layers with '->' after it",
                text=text,
                line=layer.line,
                column=layer.column,
            )
    size = expanded_size(spec.items)
    if size > MAX_LAYERS:
        raise SpecError(
            f"the spec expands to {size} layers, more than the limit of {MAX_LAYERS}; "
            "check the repeat counts",
            text=text,
            line=first.line,
            column=first.column,
        )


def parse_spec(text: str) -> Spec:
    """Parse spec text into a checked syntax tree. Raises only :class:`SpecError`."""
    if not isinstance(text, str):
        raise SpecError(f"a spec is text, got {type(text).__name__}")
    spec = _Parser(text).spec()
    _check_structure(spec)
    return spec
