"""The subset of Drive's ``files.list`` query language the stand-in understands — and no more.

A fake that ignores a clause it does not understand returns too many files, and an erasure test
over it proves nothing. This parser refuses anything outside its grammar with ``QueryError``,
which the stand-in answers as Drive does (400 ``invalid``):

    expr   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | clause
    clause := ("appProperties" | "properties") "has" "{" "key" "=" STR "and" "value" "=" STR "}"
            | ("name" | "fullText") "contains" STR
            | ("name" | "mimeType") ("=" | "!=") STR
            | "trashed" ("=" | "!=") ("true" | "false")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

File = dict[str, Any]
Predicate = Callable[[File, bytes], bool]

_TOKEN = re.compile(r"\s*(?:('(?:[^'\\]|\\.)*')|(!=|=|\{|\}|\(|\))|([A-Za-z]+))")


class QueryError(ValueError):
    pass


def _tokens(q: str) -> list[str]:
    out: list[str] = []
    pos = 0
    q = q.rstrip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m:
            raise QueryError(f"Invalid Value at character {pos}")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, q: str) -> None:
        self.toks = _tokens(q)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise QueryError("Invalid Value")
        self.i += 1
        return tok

    def string(self) -> str:
        tok = self.take()
        if not (tok.startswith("'") and tok.endswith("'") and len(tok) >= 2):
            raise QueryError("Invalid Value")
        return re.sub(r"\\(.)", r"\1", tok[1:-1])

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise QueryError("Invalid Value")
        return pred

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        return lambda f, c: any(p(f, c) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == "and":
            self.take()
            parts.append(self.factor())
        return lambda f, c: all(p(f, c) for p in parts)

    def factor(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.factor()
            return lambda f, c: not inner(f, c)
        if self.peek() == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        field = self.take()
        op = self.take()
        if field in ("appProperties", "properties") and op == "has":
            self.take("{")
            self.take("key")
            self.take("=")
            key = self.string()
            self.take("and")
            self.take("value")
            self.take("=")
            value = self.string()
            self.take("}")
            return lambda f, c: (f.get(field) or {}).get(key) == value
        if field == "trashed" and op in ("=", "!="):
            flag = self.take()
            if flag not in ("true", "false"):
                raise QueryError("Invalid Value")
            want = (flag == "true") == (op == "=")
            return lambda f, c: bool(f.get("trashed")) == want
        value = self.string()
        if op == "contains" and field == "name":
            return lambda f, c: value.lower() in f.get("name", "").lower()
        if op == "contains" and field == "fullText":
            needle = value.lower()
            return lambda f, c: any(
                needle in text.lower()
                for text in (f.get("name", ""), f.get("description", ""), _text(c))
            )
        if field in ("name", "mimeType") and op in ("=", "!="):
            return lambda f, c: (f.get(field) == value) == (op == "=")
        raise QueryError("Invalid Value")


def _text(content: bytes) -> str:
    return content.decode("utf-8", errors="ignore")


def compile_query(q: str) -> Predicate:
    """A predicate over (file metadata, content); ``QueryError`` for anything not understood."""
    if not q.strip():
        return lambda f, c: True
    return _Parser(q).parse()
