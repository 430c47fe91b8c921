"""Domain errors. Each carries the HTTP status an API would answer with, and a message that says what was
expected and what was found, so the CLI can print it as one line instead of a traceback."""

from __future__ import annotations


class AtelierError(Exception):
    """Base of every error Atelier raises on purpose."""

    http_status = 500


class ConfigError(AtelierError):
    """The settings file or an ATELIER_* variable is invalid."""

    http_status = 500


class InputError(AtelierError):
    """An input file is missing, unreadable or lacks a required column."""

    http_status = 422


class NotFoundError(AtelierError):
    """An id (product, user) that the data does not hold."""

    http_status = 404


class UnauthorizedError(AtelierError):
    """A wrong password, an unknown session, a missing or wrong API key."""

    http_status = 401


class NotFittedError(AtelierError):
    """A model was asked for recommendations (or saved) before ``fit``."""

    http_status = 500
