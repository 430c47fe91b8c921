"""Pure cleaning functions, one per messy field of a shop export.

Each takes the raw cell (a string, maybe None) and returns the clean value, or raises :class:`BadValue` whose
``reason`` becomes the quarantine reason. Nothing here reads files or knows about tables; the vectorised event
pipeline uses the same patterns (see ``PRODUCT_ID_PATTERN``) so both agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from atelier.ingest import pseudojson

PRODUCT_ID_PATTERN = r"[a-fA-F0-9]{32,}"
BIRTHDATE_PATTERN = r"\b\d{2}-\d{2}-\d{4}\b"
_OBJECT_ID = re.compile(r"^\s*(?:ObjectId\(\s*)?['\"]?\s*([0-9a-fA-F]{24})\s*['\"]?\s*\)?\s*$")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")
_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y%m%d")


class BadValue(ValueError):
    """A raw value that cannot be cleaned; ``reason`` is a short snake_case tag for the report."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


_NULL_SPELLINGS = frozenset({"", "nan", "none", "null", "n/a", "na"})
_LONGEST_NULL = max(map(len, _NULL_SPELLINGS))  # longer text is no null spelling: spares lower-casing it


def is_blank(raw: Any) -> bool:
    """True for None, NaN, and strings that are empty or a null spelling."""
    if raw is None:
        return True
    if type(raw) is str:
        return raw.strip().lower() in _NULL_SPELLINGS
    return isinstance(raw, float) and math.isnan(raw)


def clean_text(raw: Any) -> str | None:
    """Trimmed text with inner runs of white space folded; None for blanks."""
    if raw is None:  # most attributes a product lacks: the common case first
        return None
    if type(raw) is str:
        text = " ".join(raw.split())
        return None if len(text) <= _LONGEST_NULL and text.lower() in _NULL_SPELLINGS else text
    if is_blank(raw):
        return None
    if isinstance(raw, list | tuple):
        parts = [clean_text(x) for x in raw]
        joined = ", ".join(p for p in parts if p)
        return joined or None
    text = " ".join(str(raw).split())
    return text or None


def object_id_hex(raw: Any) -> str:
    """``ObjectId('663b200a012b93dcf0dedffe')`` (or the bare hex) -> ``663b200a012b93dcf0dedffe``."""
    if is_blank(raw):
        raise BadValue("missing_object_id")
    match = _OBJECT_ID.match(str(raw))
    if not match:
        raise BadValue("bad_object_id", f"expected ObjectId('<24 hex>'), found {str(raw)[:60]!r}")
    return match.group(1).lower()


def product_id(raw: Any) -> str:
    """A product id: at least 32 hex characters (TwentyToo uses 40), returned lower-case."""
    if is_blank(raw):
        raise BadValue("missing_product_id")
    text = str(raw).strip()
    if not re.fullmatch(PRODUCT_ID_PATTERN, text):
        raise BadValue("bad_product_id", f"expected 32+ hex characters, found {text[:60]!r}")
    return text.lower()


def product_ids_in(raw: Any) -> list[str]:
    """Every product id inside a broken-JSON ``product_package``, lower-case, first occurrence order."""
    if is_blank(raw):
        return []
    seen: dict[str, None] = {}
    for m in re.findall(PRODUCT_ID_PATTERN, str(raw)):
        seen.setdefault(m.lower(), None)
    return list(seen)


def to_float(raw: Any) -> float | None:
    """A number from ``18``, ``"18.0"``, ``"$18,50"``, ``"4.93"``; None for blanks; BadValue for text."""
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        raise BadValue("bad_number", f"expected a number, found {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        match = _NUMBER.search(str(raw))
        if not match:
            raise BadValue("bad_number", f"expected a number, found {str(raw)[:40]!r}")
        value = float(match.group(0).replace(",", "."))
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def to_bool(raw: Any) -> bool | None:
    """``True``/``true``/``1``/``yes``/``in stock`` -> True, the opposites -> False, blanks -> None."""
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "y", "t", "in stock", "available"}:
        return True
    if text in {"false", "0", "no", "n", "f", "out of stock", "unavailable", "sold out"}:
        return False
    raise BadValue("bad_boolean", f"expected true/false, found {text[:40]!r}")


def to_date(raw: Any) -> date | None:
    """A date from ``2023/09/13``, ``2023-09-13``, ``13/09/2023``; False/None/blank mean 'no date'."""
    if raw is False or is_blank(raw):
        return None
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()[:10]
    try:  # the usual 2023/09/13 or 2023-09-13, without strptime's cost
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise BadValue("bad_date", f"expected a date like 2023/09/13, found {str(raw)[:40]!r}")


def text_list(raw: Any, sep: str | None = None) -> list[str]:
    """A list of non-blank strings from a list value, or from text split on ``sep``."""
    if is_blank(raw):
        return []
    items = raw if isinstance(raw, list | tuple) else (str(raw).split(sep) if sep else [raw])
    out = []
    for item in items:
        text = clean_text(item)
        if text:
            out.append(text)
    return out


@dataclass(frozen=True)
class PriceInfo:
    """The prices a product's ``price`` cell describes."""

    price: float
    original_price: float
    currency: str | None
    valid_from: date | None
    valid_to: date | None


def price_list(raw: Any) -> PriceInfo:
    """Read a stringified list of price entries and choose the current and the original price.

    Current price: the entry that is still open (``valid_to`` false or empty) and started last; when every entry
    has ended, the one that started last. Original price: the latest entry flagged ``is_original``, else the
    highest value. Raises BadValue('missing_price' | 'unparseable_price') when no entry holds a usable value.
    """
    if is_blank(raw):
        raise BadValue("missing_price")
    try:
        parsed = pseudojson.loads(raw) if isinstance(raw, str) else raw
    except pseudojson.PseudoJsonError as exc:
        raise BadValue("unparseable_price", str(exc)) from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    elif isinstance(parsed, int | float) and not isinstance(parsed, bool):
        parsed = [{"value": parsed}]
    if not isinstance(parsed, list):
        raise BadValue("unparseable_price", f"expected a list of price entries, found {str(raw)[:60]!r}")
    entries = []
    for item in parsed:
        if not isinstance(item, dict):
            continue
        try:
            value = to_float(item.get("value", item.get("price")))
            valid_from = to_date(item.get("valid_from"))
            valid_to = to_date(item.get("valid_to"))
        except BadValue:
            continue
        if value is None or value < 0:
            continue
        entries.append(
            {
                "value": value,
                "currency": clean_text(item.get("currency")),
                "is_original": to_bool_lenient(item.get("is_original")),
                "valid_from": valid_from,
                "valid_to": valid_to,
            }
        )
    if not entries:
        raise BadValue("unparseable_price", f"no entry with a numeric value in {str(raw)[:60]!r}")
    earliest = date.min
    current = max(entries, key=lambda e: (e["valid_to"] is None, e["valid_from"] or earliest))
    originals = [e for e in entries if e["is_original"]]
    if originals:
        original = max(originals, key=lambda e: e["valid_from"] or earliest)["value"]
    else:
        original = max(e["value"] for e in entries)
    return PriceInfo(
        price=current["value"],
        original_price=original,
        currency=current["currency"],
        valid_from=current["valid_from"],
        valid_to=current["valid_to"],
    )


def to_bool_lenient(raw: Any) -> bool | None:
    """Like :func:`to_bool` but None for anything unreadable (used for secondary flags)."""
    try:
        return to_bool(raw)
    except BadValue:
        return None


def attributes(raw: Any) -> dict[str, Any]:
    """The pseudo-JSON ``other_attributes`` cell as a dict ({} for blanks); BadValue when unreadable."""
    if is_blank(raw):
        return {}
    try:
        parsed = pseudojson.loads(str(raw))
    except pseudojson.PseudoJsonError as exc:
        raise BadValue("unparseable_attributes", str(exc)) from None
    if not isinstance(parsed, dict):
        raise BadValue("unparseable_attributes", f"expected a dict, found {type(parsed).__name__}")
    return parsed


def birthdate_in(answer: Any, fmt: str = "%d-%m-%Y", pattern: str = BIRTHDATE_PATTERN) -> date | None:
    """The birth date hidden in a free-text answer (``"born 14-03-1995!"``); None when there is none.

    Raises BadValue('impossible_birthdate') for a match that is no calendar date (``31-02-1990``).
    """
    if is_blank(answer):
        return None
    match = re.search(pattern, str(answer))
    if not match:
        return None
    try:
        return datetime.strptime(match.group(0), fmt).date()
    except ValueError:
        raise BadValue("impossible_birthdate", f"{match.group(0)!r} is not a date ({fmt})") from None


def age_on(birth: date, day: date) -> int:
    """Whole years between ``birth`` and ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
