"""A forgiving reader for the stringified dicts and lists of shop exports.

TwentyToo's ``other_attributes`` and ``price`` cells are neither JSON nor Python: quotes arrive escaped once or
twice (``\\"key\\"``), values are wrapped in ``ObjectId("...")``, booleans are ``True`` or ``true``, and a
value may hold a bare inch mark (``24" leggings``). :func:`loads` tries strict JSON, then Python literals, then a
tolerant recursive-descent parser that ends a string only at a quote followed by ``, } ] : )`` or the end.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

_WRAPPER_NAMES = ("ObjectId", "ISODate", "NumberLong", "NumberInt", "NumberDecimal")
# `("...")`: starting at a literal "(" lets the regex engine skip ahead fast; the name before it is checked
# by hand (an alternation of names at every word boundary cost 50 µs per attributes cell).
_CALL = re.compile(r"\(\s*(\"[^\"]*\")\s*\)")
# Python spellings outside strings are only safe to rewrite when JSON then parses; a failure falls back.
_JSON_LITERALS = re.compile(r"([:\[,]\s*)(True|False|None)(?=\s*[,}\]])")
_JSON_SPELLING = {"True": "true", "False": "false", "None": "null"}
_WRAPPER = re.compile(r"\b(?:ObjectId|ISODate|NumberLong|NumberInt|NumberDecimal)\(\s*")
_LITERALS = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
    "NaN": math.nan,
    "nan": math.nan,
    "undefined": None,
}
_STRING_END_FOLLOWERS = set(",}]:)")
# A backslash right after the opening bracket: no JSON text starts so, and TwentyToo's escaped cells all do.
_ESCAPED_START = re.compile(r"[\[{]\s*\\")


class PseudoJsonError(ValueError):
    """The text could not be read as a dict or list, even tolerantly."""


def loads(text: str) -> Any:
    """Parse a stringified dict / list / scalar written as JSON, as a Python literal, or in between."""
    if not isinstance(text, str):
        raise PseudoJsonError(f"expected text, found {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise PseudoJsonError("empty text")
    if not _ESCAPED_START.match(stripped):  # strict JSON would fail at once: spare the cost of its error
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            pass
    unescaped = _unescape(stripped)
    # Python spellings (True, None) and ObjectId("...") rewritten to JSON; strict JSON then settles most cells.
    as_json = _unwrap(unescaped) if "(" in unescaped else unescaped
    if "True" in as_json or "False" in as_json or "None" in as_json:
        as_json = _JSON_LITERALS.sub(lambda m: m.group(1) + _JSON_SPELLING[m.group(2)], as_json)

    try:
        return json.loads(as_json)
    except (ValueError, RecursionError):
        pass
    if "\\" not in stripped:
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    return _TolerantParser(unescaped).parse()


def _unwrap(text: str) -> str:
    """``ObjectId("abc")`` (and the other Mongo wrappers) -> ``"abc"``."""
    parts: list[str] = []
    done = 0
    for call in _CALL.finditer(text):
        start = call.start()
        for name in _WRAPPER_NAMES:
            begin = start - len(name)
            if (
                text.startswith(name, begin)
                and begin >= done
                and (begin == 0 or not _is_word(text[begin - 1]))
            ):
                parts += (text[done:begin], call.group(1))
                done = call.end()
                break
    parts.append(text[done:])
    return "".join(parts)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _unescape(text: str) -> str:
    """Undo the one or two levels of quote escaping exports add, and drop a wrapping pair of quotes."""
    if len(text) >= 2 and text[0] == "'":
        tail = text[1:].rstrip()
        if tail.endswith("'"):
            text = tail[:-1].rstrip("\\")
    return text.replace('\\\\"', '"').replace('\\"', '"').replace("\\'", "'")


class _TolerantParser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0

    def parse(self) -> Any:
        value = self._value()
        self._ws()
        if self.i != len(self.s):
            raise PseudoJsonError(f"unexpected text at position {self.i}: {self.s[self.i : self.i + 20]!r}")
        return value

    # -- helpers -------------------------------------------------------------------------------------
    def _ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _value(self) -> Any:
        self._ws()
        ch = self._peek()
        if not ch:
            raise PseudoJsonError("text ended where a value was expected")
        if ch == "{":
            return self._container("{", "}")
        if ch == "[":
            return self._container("[", "]")
        if ch in "\"'":
            return self._string(ch)
        match = _WRAPPER.match(self.s, self.i)
        if match:
            self.i = match.end()
            inner = self._value()
            self._ws()
            if self._peek() == ")":
                self.i += 1
            return inner
        return self._bare()

    def _container(self, open_ch: str, close_ch: str) -> Any:
        self.depth += 1
        if self.depth > 64:
            raise PseudoJsonError("nesting deeper than 64 levels")
        self.i += 1
        is_dict = open_ch == "{"
        out: Any = {} if is_dict else []
        while True:
            self._ws()
            ch = self._peek()
            if ch == close_ch:
                self.i += 1
                self.depth -= 1
                return out
            if not ch:
                raise PseudoJsonError(f"text ended inside {open_ch}...{close_ch}")
            if is_dict:
                key = self._value()
                self._ws()
                if self._peek() != ":":
                    raise PseudoJsonError(f"expected ':' after key {key!r} at position {self.i}")
                self.i += 1
                out[str(key)] = self._value()
            else:
                out.append(self._value())
            self._ws()
            ch = self._peek()
            if ch == ",":
                self.i += 1
            elif ch != close_ch:
                raise PseudoJsonError(f"expected ',' or {close_ch!r} at position {self.i}, found {ch!r}")

    def _string(self, quote: str) -> str:
        start = self.i + 1
        j = start
        while True:
            j = self.s.find(quote, j)
            if j < 0:
                raise PseudoJsonError(f"string opened at position {start - 1} is never closed")
            k = j + 1
            while k < len(self.s) and self.s[k].isspace():
                k += 1
            if k == len(self.s) or self.s[k] in _STRING_END_FOLLOWERS:
                self.i = j + 1
                return self.s[start:j]
            j += 1  # a quote inside the value, such as an inch mark

    def _bare(self) -> Any:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ",}]:)":
            self.i += 1
        word = self.s[start : self.i].strip()
        if not word:
            raise PseudoJsonError(f"expected a value at position {start}")
        if word in _LITERALS:
            return _LITERALS[word]
        try:
            return int(word)
        except ValueError:
            pass
        try:
            return float(word)
        except ValueError:
            return word
