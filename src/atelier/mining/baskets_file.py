"""Read a basket file (one basket a line, items separated by white space, as the FIMI repository's) into a
baskets x items matrix, the miners' input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


def read_basket_file(path: str | Path) -> tuple[sp.csr_matrix, np.ndarray]:
    """(baskets x items 0/1 matrix, item labels); blank lines are skipped, repeated items count once."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    tokens = [line.split() for line in lines]
    sizes = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat = np.fromiter((x for t in tokens for x in t), dtype=object, count=int(sizes.sum()))
    codes, labels = pd.factorize(flat)  # hash-based: no sort of the strings
    rows = np.repeat(np.arange(len(lines)), sizes)
    m = sp.csr_matrix((np.ones(len(codes), dtype=np.float32), (rows, codes)), shape=(len(lines), len(labels)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, np.asarray(labels)
