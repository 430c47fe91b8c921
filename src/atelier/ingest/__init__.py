"""Raw exports -> canonical tables (products, users, interactions), a report, and the quarantine.

``ingest(fmt, inputs, out_dir, settings)`` is the one entry point; each format has an adapter module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest.report import IngestReport

log = logging.getLogger(__name__)

Adapter = Callable[[Sequence[Path], Path, Settings, IngestReport], None]


def _adapters() -> dict[str, Adapter]:
    """Format name -> adapter. Imported lazily so `atelier --help` stays fast."""
    from atelier.ingest import baskets, events_csv, fashion_product_images, hm, twentytoo

    return {
        "twentytoo": twentytoo.ingest,
        "hm": hm.ingest,
        "fashion-product-images": fashion_product_images.ingest,
        "events-csv": events_csv.ingest,
        "baskets": baskets.ingest,
    }


FORMATS = ("twentytoo", "hm", "fashion-product-images", "events-csv", "baskets")


def ingest(fmt: str, inputs: Sequence[str | Path], out_dir: str | Path, settings: Settings) -> IngestReport:
    """Run the ``fmt`` adapter on ``inputs`` and write tables, quarantine and report into ``out_dir``."""
    adapters = _adapters()
    if fmt not in adapters:
        raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(adapters)})")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: file not found")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = IngestReport(format=fmt, out_dir=str(out))
    start = time.perf_counter()
    adapters[fmt](paths, out, settings, report)
    report.seconds = time.perf_counter() - start
    report.write(out / "ingest_report.json")
    if not all(f.reconciles for f in report.files):
        # A bug, not bad data: say so loudly rather than hand over tables that lost rows.
        raise AssertionError(f"ingest counts do not reconcile: {report.to_dict()['files']}")
    return report
