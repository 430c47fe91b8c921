"""Raw exports -> canonical tables (products, users, interactions), a report, and the quarantine.

``ingest(fmt, inputs, out_dir, settings)`` is the one entry point; each format has an adapter module.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest.report import IngestReport, Quarantine

log = logging.getLogger(__name__)

# Every adapter gets the open quarantine; `ingest` alone opens it, closes it and lists its files in the report.
Adapter = Callable[[Sequence[Path], Path, Settings, IngestReport, Quarantine], None]


# Format name -> module holding its `ingest` function. Adding a format adds one line here.
ADAPTERS = {
    "twentytoo": "atelier.ingest.twentytoo",
    "hm": "atelier.ingest.hm",
    "fashion-product-images": "atelier.ingest.fashion_product_images",
    "events-csv": "atelier.ingest.events_csv",
    "baskets": "atelier.ingest.baskets",
}
FORMATS = tuple(ADAPTERS)


def _adapter(fmt: str) -> Adapter:
    """The adapter of ``fmt``, imported on demand (each pulls in only what its format needs)."""
    if fmt not in ADAPTERS:
        raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(ADAPTERS)})")
    return importlib.import_module(ADAPTERS[fmt]).ingest


def ingest(fmt: str, inputs: Sequence[str | Path], out_dir: str | Path, settings: Settings) -> IngestReport:
    """Run the ``fmt`` adapter on ``inputs`` and write tables, quarantine and report into ``out_dir``."""
    adapter = _adapter(fmt)
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: file not found")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = IngestReport(format=fmt, out_dir=str(out))
    start = time.perf_counter()
    quarantine = Quarantine(out)
    # The work is in columns, not Python objects: the cyclic collector would only rescan what is alive.
    collecting = gc.isenabled()
    gc.disable()
    try:
        adapter(paths, out, settings, report, quarantine)
    finally:
        if collecting:
            gc.enable()
        report.quarantine_files.update(quarantine.close())
    report.seconds = time.perf_counter() - start
    report.write(out / "ingest_report.json")
    if not all(f.reconciles for f in report.files):
        # A bug, not bad data: say so loudly rather than hand over tables that lost rows.
        raise AssertionError(f"ingest counts do not reconcile: {report.to_dict()['files']}")
    return report
