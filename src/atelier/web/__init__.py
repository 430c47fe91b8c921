"""The storefront page (``/``) over the same app as the REST API: ``install(app)`` adds it."""

from atelier.web.routes import install

__all__ = ["install"]
