"""Constructor arguments as plain values (scikit-learn style): how models and encoders describe themselves in
``model.json`` and are rebuilt from it."""

from __future__ import annotations

import inspect
from typing import Any


def constructor_params(obj: object) -> dict[str, Any]:
    """The named arguments of ``type(obj).__init__`` read back from ``obj`` (JSON-ready: tuples as lists, and a
    component such as an encoder as its spec ``{"name": ..., **its params}``, which its factory rebuilds)."""
    parameters = inspect.signature(type(obj).__init__).parameters.values()
    names = [p.name for p in parameters if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
    return {name: plain_value(getattr(obj, name)) for name in names}


def plain_value(value: Any) -> Any:
    """``value`` as ``constructor_params`` writes it."""
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "get_params") and hasattr(value, "name"):
        return {"name": value.name, **value.get_params()}
    return value
