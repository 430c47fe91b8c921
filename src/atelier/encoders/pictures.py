"""Where image encoders get pictures: a local file, or (in production) an http(s) address fetched with a timeout.

A picture that is missing, unreachable, too large or not an image yields ``None``: the encoder leaves that
product without an image vector (it stays findable by text) and the training report counts it. Nothing here
raises on a bad picture, so one broken file never stops a run.
"""

from __future__ import annotations

import http.client
import io
import time
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
from PIL import Image, UnidentifiedImageError

URL_TIMEOUT_SECONDS = 5.0  # the whole download, not each read
MAX_PICTURE_BYTES = 20 * 2**20  # a product photo; anything larger is not one
MAX_PICTURE_PIXELS = (
    40_000_000  # read from the header before decoding: a decompression bomb is refused unread
)
CHUNK_BYTES = 64 * 2**10


def picture_sources(products: pl.DataFrame) -> list[str | None]:
    """One picture per product: the local ``image_path`` when there is one, else the first of ``image_urls``."""
    n = products.height
    local = products["image_path"].to_list() if "image_path" in products.columns else [None] * n
    if "image_urls" not in products.columns:
        return local
    first_url = products["image_urls"].list.first().to_list()
    return [path or url for path, url in zip(local, first_url, strict=True)]


def open_picture(source: str | Path | None, timeout: float = URL_TIMEOUT_SECONDS) -> Image.Image | None:
    """The picture as an RGB image, or None when it is missing, unreachable, too large or unreadable."""
    if not source:
        return None
    try:
        text = str(source)
        handle = io.BytesIO(_download(text, timeout)) if text.startswith(("http://", "https://")) else text
        with Image.open(handle) as img:
            if img.width * img.height > MAX_PICTURE_PIXELS:
                return None
            return img.convert("RGB")
    except (
        OSError,  # missing file, timeout, refused connection, truncated image (URLError is one too)
        http.client.HTTPException,  # a server speaking broken HTTP
        UnidentifiedImageError,
        ValueError,
        Image.DecompressionBombError,
    ):
        return None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) addresses only (never to ftp: or file:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.startswith(("http://", "https://")):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl!r} refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def _download(url: str, timeout: float) -> bytes:
    """The body of ``url``, within ``timeout`` seconds overall and ``MAX_PICTURE_BYTES`` (else OSError)."""
    deadline = time.monotonic() + timeout
    with _opener.open(url, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_PICTURE_BYTES:
            raise OSError(f"{url}: {declared} bytes is not a product picture")
        body = bytearray()
        while chunk := response.read(CHUNK_BYTES):
            body += chunk
            if len(body) > MAX_PICTURE_BYTES:
                raise OSError(f"{url}: larger than {MAX_PICTURE_BYTES} bytes")
            if time.monotonic() > deadline:  # a server trickling bytes must not hold the run
                raise TimeoutError(f"{url}: not downloaded within {timeout} s")
    return bytes(body)
