"""Where image encoders get pictures: a local file, or (in production) an http(s) address fetched with a timeout.

A picture that is missing, unreachable, too large or not an image yields ``None``: the encoder leaves that
product without an image vector (it stays findable by text) and the training report counts it. Nothing here
raises on a bad picture, so one broken file never stops a run.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
from PIL import Image, UnidentifiedImageError

URL_TIMEOUT_SECONDS = 5.0
MAX_PICTURE_BYTES = 20 * 2**20  # a product photo; anything larger is not one
Image.MAX_IMAGE_PIXELS = 64 * 2**20  # refuse decompression bombs early (PIL's own limit is higher)


def picture_sources(products: pl.DataFrame) -> list[str | None]:
    """One picture per product: the local ``image_path`` when there is one, else the first of ``image_urls``."""
    n = products.height
    local = products["image_path"].to_list() if "image_path" in products.columns else [None] * n
    if "image_urls" not in products.columns:
        return local
    first_url = products["image_urls"].list.first().to_list()
    return [path or url for path, url in zip(local, first_url, strict=True)]


def open_picture(source: str | Path | None, timeout: float = URL_TIMEOUT_SECONDS) -> Image.Image | None:
    """The picture as an RGB image, or None when it is missing or unreadable."""
    if not source:
        return None
    try:
        text = str(source)
        if text.startswith(("http://", "https://")):
            with urllib.request.urlopen(text, timeout=timeout) as response:
                data = response.read(MAX_PICTURE_BYTES + 1)
            if len(data) > MAX_PICTURE_BYTES:
                return None
            handle = io.BytesIO(data)
        else:
            handle = text
        with Image.open(handle) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, urllib.error.URLError, Image.DecompressionBombError):
        return None
