"""The SOQL subset the emulator answers, parsed strictly:

    SELECT <field>[, <field>...] | COUNT() FROM <object> [WHERE <field> = <literal> [AND ...]] [LIMIT <n>]

with `<literal>` a quoted string, `true`, `false` or `null`. Keywords and names are case-insensitive.
Anything else is refused with Salesforce's error shape (`MALFORMED_QUERY` and a pointer to the spot),
so a client learns the query is beyond the emulator instead of getting a wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>[0-9]+(?:\.[0-9]+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>!=|<=|>=|[=<>,()])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
Literal = str | bool | None


class SoqlError(Exception):
    """A refused query: Salesforce's error code and message (with the query and a caret, as it shows)."""

    def __init__(self, error_code: str, query: str, column: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = f"\n{query}\n{' ' * column}^\nERROR at Row:1:Column:{column + 1}\n{message}"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class Condition:
    field: str
    value: Literal
    column: int  # of the field, for error messages
    value_column: int


@dataclass(frozen=True)
class Query:
    text: str
    fields: tuple[tuple[str, int], ...]  # (name as written, column); empty for COUNT()
    sobject: str
    sobject_column: int
    where: tuple[Condition, ...]
    limit: int | None

    @property
    def count(self) -> bool:
        return not self.fields


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:  # only trailing whitespace is left
            break
        kind = match.lastgroup
        tokens.append(Token(kind, match[kind], match.start(kind)))
        position = match.end()
    return tokens


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), literal[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def fail(self, token: Token | None, message: str | None = None) -> SoqlError:
        if token is None:
            return SoqlError("MALFORMED_QUERY", self.text, len(self.text), message or "unexpected end of query")
        return SoqlError("MALFORMED_QUERY", self.text, token.column, message or f"unexpected token: {token.text}")

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail(None)
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.upper() == word:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(self.peek())

    def expect(self, text: str) -> None:
        if self.take().text != text:
            raise self.fail(self.tokens[self.index - 1])

    def name(self) -> Token:
        token = self.take()
        if token.kind != "name" or token.text.upper() in _RESERVED:
            raise self.fail(token)
        return token

    def literal(self) -> tuple[Literal, int]:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text), token.column
        if token.kind == "name" and token.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text.lower()], token.column
        raise self.fail(token)

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[tuple[str, int]] = []
        if self.keyword("COUNT"):
            self.expect("(")
            self.expect(")")
        else:
            while True:
                token = self.name()
                fields.append((token.text, token.column))
                if self.peek() is None or self.peek().text != ",":  # type: ignore[union-attr]
                    break
                self.index += 1
        self.expect_keyword("FROM")
        sobject = self.name()
        where: list[Condition] = []
        if self.keyword("WHERE"):
            while True:
                field = self.name()
                self.expect("=")
                value, value_column = self.literal()
                where.append(Condition(field.text, value, field.column, value_column))
                if not self.keyword("AND"):
                    break
        limit: int | None = None
        if self.keyword("LIMIT"):
            token = self.take()
            if token.kind != "number" or not token.text.isdigit():
                raise self.fail(token)
            limit = int(token.text)
        if self.peek() is not None:
            raise self.fail(self.peek())
        return Query(self.text, tuple(fields), sobject.text, sobject.column, tuple(where), limit)


_RESERVED = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "LIMIT", "ORDER", "GROUP", "BY", "HAVING", "OFFSET"}


def parse(text: str) -> Query:
    """Parse the supported subset; SoqlError(MALFORMED_QUERY) for anything else."""
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", text, 0, "unexpected end of query")
    return _Parser(text.strip()).parse()
