"""Benchmark: Similar Styles speed — image embedding throughput (PyTorch eager vs ONNX Runtime) and the vector
indexes (exact, HNSW, Annoy) at catalogue sizes.

- **Images:** ``--images`` pictures from ``../shared/data/fashion-product-images-small`` (or the sample shop's
  drawn pictures when absent), embedded by MobileNetV2 and EfficientNet-Lite0 with each runtime; pictures/s, the
  median of ``--runs`` passes, decoding and pre-processing included. The ONNX export is cached beforehand.
- **Indexes:** the 44k FPI product titles embedded by MiniLM (real vectors; 1,000 of them as queries), then
  ``--sizes`` unit vectors of 384 dimensions (MiniLM's size) drawn around 2,000 cluster centres, as product
  embeddings cluster by style, with 1,000 held-out queries. Build time, query latency p50 / p99 (one query at
  a time, as a shop page asks) and recall@10 against exact search (a found item as close as the true 10th
  counts, so duplicate products' ties are not misses).

    .venv/bin/python benchmarks/similar.py --images 512 --sizes 44000 200000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
FPI = ROOT.parent / "shared" / "data" / "fashion-product-images-small" / "images"
TARGET_ONNX_SPEEDUP = 3.0
TARGET_RECALL = 0.95
TARGET_P99_MS = 5.0


def picture_paths(n: int) -> list[str]:
    if FPI.is_dir():
        return [str(p) for p in sorted(FPI.glob("*.jpg"))[:n]]
    from atelier.sample import write_sample

    shop = write_sample(
        ROOT / "var" / "bench" / "similar-shop", products=max(n, 20), users=10, events=100, seed=3
    )
    return [str(p) for p in sorted((shop.root / "images").glob("*"))[:n]]


def image_rows(n: int, runs: int) -> list[str]:
    from atelier.encoders import ImageEncoder

    products = pl.DataFrame({"image_path": picture_paths(n)})
    lines = ["| network | runtime | pictures/s | speed-up |", "|---|---|---|---|"]
    for network in ("mobilenet_v2", "efficientnet_lite0"):
        rates = {}
        for runtime in ("torch", "onnx"):
            encoder = ImageEncoder(
                network, runtime=runtime, onnx_dir=str(ROOT / "var" / "bench" / "onnx")
            ).fit(products)
            encoder.encode_products(products.head(8))  # warm up (and export once)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                encoder.encode_products(products)
                times.append(time.perf_counter() - start)
            rates[runtime] = products.height / statistics.median(times)
        for runtime, rate in rates.items():
            ratio = f"{rate / rates['torch']:.1f}x" if runtime == "onnx" else ""
            lines.append(f"| {network} | {runtime} | {rate:.1f} | {ratio} |")
        ok = rates["onnx"] / rates["torch"] >= TARGET_ONNX_SPEEDUP
        lines.append(
            f"| | target ONNX >= {TARGET_ONNX_SPEEDUP:.0f}x | | {'**met**' if ok else '**missed**'} |"
        )
    return lines


def clustered_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(2_000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def minilm_title_vectors() -> np.ndarray | None:
    """MiniLM embeddings of every FPI product title (44k real vectors), cached in var/bench; None without FPI."""
    styles = FPI.parent / "styles.csv"
    cache = ROOT / "var" / "bench" / "fpi-minilm-titles.npy"
    if cache.is_file():
        return np.load(cache)
    if not styles.is_file():
        return None
    from atelier.encoders import TextEncoder

    titles = pl.read_csv(styles, truncate_ragged_lines=True, infer_schema=False)["productDisplayName"]
    vectors = TextEncoder(batch_size=256).fit(pl.DataFrame()).encode_texts(titles.fill_null("").to_list())
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def index_rows(sizes: Sequence[int], real: bool, seed: int = 7) -> list[str]:
    from atelier.index import AnnoyIndex, ExactIndex, HnswIndex

    backends: dict[str, type] = {"exact": ExactIndex, "hnsw": HnswIndex, "annoy": AnnoyIndex}
    collections: list[tuple[str, np.ndarray, np.ndarray]] = []
    rng = np.random.default_rng(seed)
    if real and (titles := minilm_title_vectors()) is not None:
        order = rng.permutation(len(titles))
        collections.append(("FPI titles, MiniLM", titles[order[1_000:]], titles[order[:1_000]]))
    for n in sizes:
        data = clustered_vectors(n + 1_000, 384, rng)
        collections.append(("synthetic clusters", data[:n], data[n:]))
    lines = [
        "| vectors | kind | index | build s | p50 ms | p99 ms | recall@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, vectors, queries in collections:
        # The 10th best similarity per query: a found item at least this close counts as a true neighbour, so
        # duplicate products (identical vectors, many in FPI) do not turn ties into misses.
        _, truth_scores = ExactIndex().add(vectors).search(queries, 10)
        kth = truth_scores[:, -1] - 1e-5
        for name, cls in backends.items():
            start = time.perf_counter()
            index = cls().add(vectors)
            build = time.perf_counter() - start
            latencies, found = [], []
            for q in queries:
                t = time.perf_counter()
                items, _ = index.search(q[None, :], 10)
                latencies.append((time.perf_counter() - t) * 1000)
                found.append(items[0])
            recall = np.mean(
                [
                    np.sum((items >= 0) & (vectors[np.clip(items, 0, None)] @ q >= t)) / 10
                    for items, q, t in zip(found, queries, kth, strict=True)
                ]
            )
            p50, p99 = np.percentile(latencies, [50, 99])
            lines.append(
                f"| {len(vectors):,} | {kind} | {name} | {build:.1f} | {p50:.2f} | {p99:.2f} | {recall:.3f} |"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[44_000, 200_000])
    parser.add_argument("--no-real", action="store_true", help="skip the FPI MiniLM title vectors")
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--out-md", type=Path)
    args = parser.parse_args(argv)
    lines = [] if args.skip_images else ["### Image embeddings", "", *image_rows(args.images, args.runs), ""]
    lines += ["### Indexes", "", *index_rows(args.sizes, not args.no_real)]
    table = "\n".join(lines)
    print(table)
    if args.out_md:
        args.out_md.parent.mkdir(parents=True, exist_ok=True)
        args.out_md.write_text(table + "\n")


if __name__ == "__main__":
    main()
