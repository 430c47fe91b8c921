"""Constructor arguments as plain values (scikit-learn style): how models and encoders describe themselves in
``model.json`` and are rebuilt from it."""

from __future__ import annotations

import inspect
from typing import Any


def constructor_params(obj: object) -> dict[str, Any]:
    """The named arguments of ``type(obj).__init__`` read back from ``obj`` (tuples as lists, JSON-ready)."""
    parameters = inspect.signature(type(obj).__init__).parameters.values()
    names = [p.name for p in parameters if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
    return {name: list(v) if isinstance(v := getattr(obj, name), tuple) else v for name in names}
