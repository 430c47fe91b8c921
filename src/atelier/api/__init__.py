"""The REST API: thin FastAPI routes over one :class:`atelier.engine.Engine`."""

from atelier.api.app import create_app

__all__ = ["create_app"]
