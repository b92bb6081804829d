"""Split architecture-spec text into tokens that remember where they came from.

The grammar's tokens::

    NAME    CONV, k, same, true          letters, digits and '_' (not starting with a digit)
    INT     32, -1                       a '-' sign is part of a number
    FLOAT   0.5, 1e-3, -0.2
    SHAPE   3x32x32, 1x28x28, 3x3        whole numbers joined by 'x'
    STRING  'reflect', "same"            no line breaks inside
    ARROW   ->  or  →
    ( ) [ ] * ? , =
    EOF     the end of the text

Whitespace and line breaks separate tokens; ``#`` starts a comment to the end of the
line. Every token carries its 1-based line and column and its character offsets,
so errors can point at it and layers can quote their own source text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from cnnkit.errors import SpecError

__all__ = ["Token", "TokenValue", "tokenize"]

TokenValue = Union[int, float, str, tuple[int, ...], None]

_PUNCTUATION = {
    "(": "LPAREN",
    ")": "RPAREN",
    "[": "LBRACK",
    "]": "RBRACK",
    "*": "STAR",
    "?": "QMARK",
    ",": "COMMA",
    "=": "EQUALS",
    "→": "ARROW",
}


@dataclass(frozen=True)
class Token:
    """One token: its kind, its source text, its parsed value and where it starts."""

    kind: str
    text: str
    value: TokenValue
    line: int
    column: int
    start: int  # offset of the first character in the spec text
    end: int  # offset one past the last character

    def describe(self) -> str:
        """How an error message names this token: 'end of spec' or the quoted text."""
        return "end of spec" if self.kind == "EOF" else repr(self.text)


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0  # offset where the current line begins
        self.tokens: list[Token] = []

    def error(self, message: str, offset: int) -> SpecError:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return SpecError(message, text=self.text, line=line, column=column)

    def add(self, kind: str, start: int, value: TokenValue = None) -> None:
        text = self.text[start : self.pos]
        column = start - self.line_start + 1
        self.tokens.append(Token(kind, text, value, self.line, column, start, self.pos))

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            start = self.pos
            if ch == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch.isspace():
                self.pos += 1
            elif ch == "#":
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
            elif text.startswith("->", self.pos):
                self.pos += 2
                self.add("ARROW", start)
            elif ch in _PUNCTUATION:
                self.pos += 1
                self.add(_PUNCTUATION[ch], start)
            elif ch.isascii() and ch.isdigit() or (ch in "-." and self._digit_follows(ch)):
                self.number()
            elif ch.isascii() and (ch.isalpha() or ch == "_"):
                while self.pos < len(text) and _is_name_char(text[self.pos]):
                    self.pos += 1
                self.add("NAME", start, text[start : self.pos])
            elif ch in "'\"":
                self.string(ch)
            elif ch == "-":
                raise self.error("unexpected '-': layers are joined by '->'", start)
            else:
                raise self.error(
                    f"unexpected character {ch!r}; a spec holds layer names, numbers, "
                    "'->', ( ), [ ]*N, '?', ',' and '=' ('#' starts a comment)",
                    start,
                )
        self.add("EOF", self.pos)
        return self.tokens

    def _digit_follows(self, ch: str) -> bool:
        """'-5', '-.5' and '.5' start numbers; a lone '-' or '.' does not."""
        rest = self.text[self.pos + 1 : self.pos + 3]
        if ch == "-" and rest[:1] == ".":
            rest = rest[1:]
        return rest[:1].isascii() and rest[:1].isdigit()

    def _digits(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isascii() and self.text[self.pos].isdigit():
            self.pos += 1

    def number(self) -> None:
        """INT, FLOAT or SHAPE; anything glued to it (3x, 5k, 1.2.3) is an error."""
        text, start = self.text, self.pos
        if text[self.pos] == "-":
            self.pos += 1
        self._digits()
        kind = "INT"
        if text[self.pos : self.pos + 1] in ("x", "X") and text[start] != "-":
            sizes = [text[start : self.pos]]
            while text[self.pos : self.pos + 1] in ("x", "X"):
                self.pos += 1
                digits_at = self.pos
                self._digits()
                if self.pos == digits_at:
                    self._glued_error(start, "shape")
                sizes.append(text[digits_at : self.pos])
            if self.pos < len(text) and (_is_name_char(text[self.pos]) or text[self.pos] == "."):
                self._glued_error(start, "shape")
            self.add("SHAPE", start, tuple(int(s) for s in sizes))
            return
        if text[self.pos : self.pos + 1] == "." and text[self.pos + 1 : self.pos + 2].isdigit():
            kind = "FLOAT"
            self.pos += 1
            self._digits()
        if text[self.pos : self.pos + 1] in ("e", "E"):
            after = self.pos + 1
            if text[after : after + 1] in ("+", "-"):
                after += 1
            if text[after : after + 1].isascii() and text[after : after + 1].isdigit():
                kind = "FLOAT"
                self.pos = after
                self._digits()
        if self.pos < len(text) and (_is_name_char(text[self.pos]) or text[self.pos] == "."):
            self._glued_error(start, "number")
        raw = text[start : self.pos]
        self.add(kind, start, int(raw) if kind == "INT" else float(raw))

    def _glued_error(self, start: int, what: str) -> None:
        end = self.pos
        while end < len(self.text) and (_is_name_char(self.text[end]) or self.text[end] == "."):
            end += 1
        raw = self.text[start:end]
        if what == "shape" or "x" in raw.lower():
            hint = "write sizes as whole numbers joined by 'x', e.g. 3x32x32"
            what = "shape"
        else:
            hint = "write a number like 32 or 0.5, and separate arguments with ','"
        raise self.error(f"malformed {what} {raw!r}; {hint}", start)

    def string(self, quote: str) -> None:
        start = self.pos
        end = self.text.find(quote, start + 1)
        newline = self.text.find("\n", start + 1)
        if end < 0 or (0 <= newline < end):
            raise self.error(f"unterminated string: add the closing {quote} on the same line", start)
        self.pos = end + 1
        self.add("STRING", start, self.text[start + 1 : end])


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with one EOF token. Raises SpecError on a bad character."""
    return _Lexer(text).run()
