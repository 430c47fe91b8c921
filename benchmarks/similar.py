"""Benchmark: Similar Styles speed — image embedding throughput (PyTorch eager vs ONNX Runtime) and the vector
indexes (exact, HNSW, and Annoy when installed) at catalogue sizes.

- **Images:** ``--images`` pictures from ``../shared/data/fashion-product-images-small`` (or the sample shop's
  drawn pictures when absent), embedded by MobileNetV2 and EfficientNet-Lite0 with each runtime; pictures/s, the
  median of ``--runs`` passes, decoding and pre-processing included. The ONNX export is cached beforehand.
- **Indexes:** ``--sizes`` unit vectors of 384 dimensions (MiniLM's size) drawn around 2,000 cluster centres, as
  product embeddings cluster by style; 1,000 held-out queries. Build time, query latency p50 / p99 (one query at
  a time, as a shop page asks) and recall@10 against exact search.

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


def index_rows(sizes: Sequence[int], seed: int = 7) -> list[str]:
    from atelier.index import ExactIndex, HnswIndex

    backends: dict[str, type] = {"exact": ExactIndex, "hnsw": HnswIndex}
    try:
        from annoy import AnnoyIndex  # noqa: F401

        backends["annoy"] = _Annoy
    except ImportError:
        pass
    lines = ["| vectors | index | build s | p50 ms | p99 ms | recall@10 |", "|---|---|---|---|---|---|"]
    for n in sizes:
        rng = np.random.default_rng(seed)
        data = clustered_vectors(n + 1_000, 384, rng)
        vectors, queries = data[:n], data[n:]
        truth, _ = ExactIndex().add(vectors).search(queries, 10)
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
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
            p50, p99 = np.percentile(latencies, [50, 99])
            lines.append(f"| {n:,} | {name} | {build:.1f} | {p50:.2f} | {p99:.2f} | {recall:.3f} |")
    return lines


class _Annoy:
    """The seeds' Annoy (angular), behind the same add / search calls, for comparison only."""

    def add(self, vectors: np.ndarray, trees: int = 50) -> _Annoy:
        from annoy import AnnoyIndex

        self.index = AnnoyIndex(vectors.shape[1], "angular")
        for i, v in enumerate(vectors):
            self.index.add_item(i, v)
        self.index.build(trees)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        items = [self.index.get_nns_by_vector(q, k, search_k=-1) for q in queries]
        return np.array(items), np.zeros((len(items), k))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[44_000, 200_000])
    parser.add_argument("--out-md", type=Path)
    args = parser.parse_args(argv)
    lines = ["### Image embeddings", "", *image_rows(args.images, args.runs), "", "### Indexes", ""]
    lines += index_rows(args.sizes)
    table = "\n".join(lines)
    print(table)
    if args.out_md:
        args.out_md.parent.mkdir(parents=True, exist_ok=True)
        args.out_md.write_text(table + "\n")


if __name__ == "__main__":
    main()
