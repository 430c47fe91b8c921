"""Where image encoders get pictures: a local file, or (in production) an http(s) address fetched with a timeout
(the host name's lookup included, see :func:`_lookup`).

A picture that is missing, unreachable, too large or not an image yields ``None``: the encoder leaves that
product without an image vector (it stays findable by text) and the training report counts it. Nothing here
raises on a bad picture, so one broken file never stops a run.

Pictures given as addresses are downloaded once, several at a time, a batch at a time, into a temporary folder
that every image encoder of the batch reads (:func:`encode_pictures`): a hybrid of three image blocks makes one
download per picture, not three, and the folder never holds more than one batch. A host that fails
``HOST_GIVE_UP_AFTER`` downloads in a row, over at least ``HOST_GIVE_UP_SECONDS``, without answering once (down,
unknown, refusing, or a gateway saying so) is given up for the rest of the pass: a dead picture server costs
about half a minute of failed downloads, not one per product.
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
from PIL import Image, UnidentifiedImageError

from atelier.progress import progress, quiet

URL_TIMEOUT_SECONDS = 5.0  # the whole download, not each read
MAX_PICTURE_BYTES = 20 * 2**20  # a product photo; anything larger is not one
MAX_PICTURE_PIXELS = (
    40_000_000  # read from the header before decoding: a decompression bomb is refused unread
)
CHUNK_BYTES = 64 * 2**10
DOWNLOAD_BATCH = 256  # pictures downloaded, then encoded by every encoder, at a time
DOWNLOAD_WORKERS = 8  # downloads at once: they wait on the network, not on the CPU
# A host whose downloads failed this many times in a row, over at least this long, is not asked again in the pass
HOST_GIVE_UP_AFTER = 20
HOST_GIVE_UP_SECONDS = 30.0
MAX_PENDING_LOOKUPS = 32  # name lookups still running (hung) at once; beyond, a download fails at once
_HOST_UNAVAILABLE = {502, 503, 504}  # bad gateway, unavailable, gateway timeout: nobody there to answer
# What a failed download raises: a missing file, a timeout or refused connection (URLError is an OSError), a
# server speaking broken HTTP, an address that is no address.
_DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)

log = logging.getLogger(__name__)


class _NotAPicture(OSError):
    """The host answered, but with something that is not a product picture (too large)."""


class PictureEncoder(Protocol):
    def encode_images(self, sources: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]: ...


def is_address(source: str | Path | None) -> bool:
    """True for an http(s) address (a picture to download), False for a local path or nothing."""
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def encode_pictures(
    encoders: Mapping[str, PictureEncoder], sources: Sequence[str | None]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each encoder's ``encode_images(sources)``, with every addressed picture downloaded once for all of them.

    Local files are handed over as they are (opening a file again is cheap). When some pictures are addresses,
    they are fetched ``DOWNLOAD_BATCH`` at a time, ``DOWNLOAD_WORKERS`` at once, into a temporary folder; every
    encoder reads the batch from there, and the folder is emptied before the next batch. A picture that cannot
    be downloaded is no picture for any encoder.
    """
    if not any(is_address(s) for s in sources):
        return {name: encoder.encode_images(sources) for name, encoder in encoders.items()}
    encoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    hosts = _Hosts(HOST_GIVE_UP_AFTER, HOST_GIVE_UP_SECONDS)
    with (
        progress() as bar,
        tempfile.TemporaryDirectory(prefix="atelier-pictures-") as folder,
        ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="picture-download") as pool,
    ):
        task = bar.add_task("download and encode pictures", total=len(sources))
        for start in range(0, len(sources), DOWNLOAD_BATCH):
            batch = list(sources[start : start + DOWNLOAD_BATCH])
            paths = [Path(folder) / str(i) for i in range(len(batch))]
            local = list(pool.map(_saved, batch, paths, [hosts] * len(batch)))
            with quiet():  # the bar above counts the batches; the encoders' own bars would flash per batch
                for name, encoder in encoders.items():
                    vectors, ok = encoder.encode_images(local)
                    if name not in encoded:  # filled in place: stacking the batches would need twice the room
                        encoded[name] = (
                            np.zeros((len(sources), vectors.shape[1]), vectors.dtype),
                            np.zeros(len(sources), bool),
                        )
                    encoded[name][0][start : start + len(batch)] = vectors
                    encoded[name][1][start : start + len(batch)] = ok
            for path in Path(folder).iterdir():
                path.unlink()
            bar.advance(task, len(batch))
    return encoded


def _saved(source: str | None, path: Path, hosts: _Hosts, timeout: float = URL_TIMEOUT_SECONDS) -> str | None:
    """A local path holding the picture: ``source`` itself when local, else its download at ``path``; None
    when it cannot be downloaded, or its host has been given up."""
    if not is_address(source):
        return source
    try:
        parts = urllib.parse.urlsplit(source)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    except ValueError:  # not an address that can be asked ("http://[oops", a port that is no number)
        return None
    if not hosts.still_tried(host):
        return None
    try:
        body = _download(source, timeout)
    except urllib.error.HTTPError as error:
        if error.code in _HOST_UNAVAILABLE:  # the host, or the proxy in front of it, has nobody to answer
            hosts.failed(host, error)
        else:  # the host answered: only this picture is missing
            hosts.answered(host)
        return None
    except _NotAPicture:
        hosts.answered(host)
        return None
    except _DOWNLOAD_ERRORS as error:  # as in open_picture: a bad picture never stops the run
        hosts.failed(host, error)
        return None
    hosts.answered(host)
    path.write_bytes(body)  # but a full disk does: it would leave every later picture out, without a word
    return str(path)


class _Hosts:
    """Failed downloads in a row per host (``hostname:port``), shared by the download threads of one pass. A
    host is given up (not asked again in this pass) once ``give_up_after`` downloads in a row failed, over at
    least ``give_up_seconds``: refusals come in milliseconds, and a blip must not cost a host the whole pass."""

    def __init__(self, give_up_after: int, give_up_seconds: float) -> None:
        self.give_up_after = give_up_after
        self.give_up_seconds = give_up_seconds
        # host -> (failures in a row, when the first of them was)
        self._failing: dict[str, tuple[int, float]] = {}
        self._given_up: set[str] = set()
        self._lock = threading.Lock()

    def still_tried(self, host: str) -> bool:
        with self._lock:
            return host not in self._given_up

    def answered(self, host: str) -> None:
        with self._lock:
            self._failing.pop(host, None)

    def failed(self, host: str, error: BaseException) -> None:
        with self._lock:
            if host in self._given_up:
                return
            failures, since = self._failing.get(host, (0, time.monotonic()))
            failures += 1
            self._failing[host] = (failures, since)
            waited = time.monotonic() - since
            if failures >= self.give_up_after and waited >= self.give_up_seconds:
                self._given_up.add(host)
                log.warning(
                    "pictures from %s: %d downloads in a row failed over %.0f s (the last: %s); its other "
                    "pictures are skipped in this pass",
                    host,
                    failures,
                    waited,
                    error,
                )


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
        handle = io.BytesIO(_download(text, timeout)) if is_address(text) else text
        with Image.open(handle) as img:
            if img.width * img.height > MAX_PICTURE_PIXELS:
                return None
            return img.convert("RGB")
    # A truncated picture raises an OSError too.
    except (*_DOWNLOAD_ERRORS, UnidentifiedImageError, Image.DecompressionBombError):
        return None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) addresses only (never to ftp: or file:), within the download's deadline:
    urllib gives every hop the whole timeout again, so ten slow redirects could hold a download ten times over."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not is_address(newurl):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl!r} refused", headers, fp)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        # urllib reads the redirect's body to the end before the next hop, with neither the deadline nor a size
        # limit; closed, there is nothing left to read.
        fp.close()
        deadline = getattr(req, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{req.full_url}: the redirect to {newurl} came after the download's deadline"
                )
            new.deadline = deadline
            req.timeout = left  # what urllib opens the next hop with
        return new


def _lookup(host: str, port: int, timeout: float | object) -> list:
    """``socket.getaddrinfo`` within ``timeout``. The system resolver ignores socket timeouts, so the lookup runs
    in a daemon thread, left behind (until the resolver gives up) when it takes longer; at most
    :data:`MAX_PENDING_LOOKUPS` run at once."""
    if not _pending_lookups.acquire(blocking=False):
        raise TimeoutError(f"{host}: {MAX_PENDING_LOOKUPS} name lookups are still waiting for the resolver")
    addresses: Future[list] = Future()

    def look() -> None:
        try:
            addresses.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as error:  # a name the resolver cannot encode raises UnicodeError, not OSError
            addresses.set_exception(error)
        finally:
            _pending_lookups.release()

    threading.Thread(target=look, name="picture-lookup", daemon=True).start()
    seconds = socket.getdefaulttimeout() if timeout is socket._GLOBAL_DEFAULT_TIMEOUT else timeout
    if not wait([addresses], timeout=seconds).done:  # type: ignore[arg-type]
        raise TimeoutError(f"{host}: name not found within {seconds:g} s")
    error = addresses.exception()
    if error is None:
        return addresses.result()
    if isinstance(error, OSError | ValueError):  # what a download's callers expect of a bad address
        raise error
    raise OSError(f"{host}: name lookup failed ({error!r})") from error


_pending_lookups = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)


def _connect(address: tuple[str, int], timeout: float | object, source_address=None) -> socket.socket:
    """``socket.create_connection`` with the name looked up by :func:`_lookup`: each address found is tried in
    turn, as the standard library does."""
    host, port = address
    error: OSError = OSError(f"{host}: no address to connect to")
    for family, kind, protocol, _, sockaddr in _lookup(host, port, timeout):
        sock = socket.socket(family, kind, protocol)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)  # type: ignore[arg-type]
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)  # the whole address: an IPv6 scope is kept
            return sock
        except OSError as failure:
            error = failure
            sock.close()
    raise error


def _with_bounded_lookup(connection_class: type[http.client.HTTPConnection]):
    """A maker of ``connection_class`` connections that connect through :func:`_connect`."""

    def make(host: str, **options: Any) -> http.client.HTTPConnection:
        connection = connection_class(host, **options)
        # http.client's own hook for how a connection opens its socket (TLS still sees the host name)
        connection._create_connection = _connect
        return connection

    return make


class _BoundedLookupHttp(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_with_bounded_lookup(http.client.HTTPConnection), req)


class _BoundedLookupHttps(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_with_bounded_lookup(http.client.HTTPSConnection), req, context=self._context)


# Replaces urllib's own http and https handlers (build_opener drops a default a subclass is given for).
_opener = urllib.request.build_opener(_HttpOnlyRedirects, _BoundedLookupHttp, _BoundedLookupHttps)


def _download(url: str, timeout: float) -> bytes:
    """The body of ``url``, within ``timeout`` seconds overall and ``MAX_PICTURE_BYTES`` (else OSError)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url)
    request.deadline = deadline  # type: ignore[attr-defined]  # read by _HttpOnlyRedirects
    with _opener.open(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_PICTURE_BYTES:
            raise _NotAPicture(f"{url}: {declared} bytes is not a product picture")
        body = bytearray()
        while chunk := response.read(CHUNK_BYTES):
            body += chunk
            if len(body) > MAX_PICTURE_BYTES:
                raise _NotAPicture(f"{url}: larger than {MAX_PICTURE_BYTES} bytes")
            if time.monotonic() > deadline:  # a server trickling bytes must not hold the run
                raise TimeoutError(f"{url}: not downloaded within {timeout} s")
    return bytes(body)
