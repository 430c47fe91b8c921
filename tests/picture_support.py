"""A picture server on 127.0.0.1 and a count of the downloads asked of each host, for the tests of how encoders
get pictures given as addresses."""

from __future__ import annotations

import collections
import contextlib
import http.server
import ssl
import threading
import time


@contextlib.contextmanager
def picture_server(folder, tls: ssl.SSLContext | None = None):
    """An HTTP server (HTTPS with ``tls``) on 127.0.0.1 serving ``folder``; yields (base address, requests per
    path)."""
    requests: collections.Counter = collections.Counter()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            requests[self.path] += 1
            if self.path.startswith("/busy"):  # a server with nobody to answer
                self.send_error(503)
                return
            if self.path.startswith("/hop/"):  # a slow redirect: /hop/<n> to /hop/<n-1>, /hop/0 to /red.png
                time.sleep(0.3)
                left = int(self.path.removeprefix("/hop/"))
                self.send_response(302)
                self.send_header("Location", f"/hop/{left - 1}" if left else "/red.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/trickle":  # a redirect whose body comes a byte at a time
                self.send_response(302)
                self.send_header("Location", "/red.png")
                self.send_header("Content-Length", "100")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may hang up: that is what it should do
                    for _ in range(100):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        time.sleep(0.1)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.handle_error = lambda *_: None  # a client refusing the certificate is what some tests want
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def count_downloads(monkeypatch) -> collections.Counter:
    """Downloads asked of each host (``host:port``) from now on."""
    from urllib.parse import urlsplit

    from atelier.encoders import pictures

    asked: collections.Counter = collections.Counter()
    download = pictures._download

    def counted(url, timeout):
        asked[urlsplit(url).netloc] += 1
        return download(url, timeout)

    monkeypatch.setattr(pictures, "_download", counted)
    return asked


def give_up_quickly(monkeypatch, one_at_a_time: bool = True) -> None:
    """No proxy (it would answer for a dead host), a host given up after 3 failures in a row however quick, and
    with ``one_at_a_time`` one download at a time, so counts of downloads are exact."""
    from atelier.encoders import pictures

    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setattr(pictures, "HOST_GIVE_UP_AFTER", 3)
    monkeypatch.setattr(pictures, "HOST_GIVE_UP_SECONDS", 0.0)
    if one_at_a_time:
        monkeypatch.setattr(pictures, "DOWNLOAD_WORKERS", 1)
