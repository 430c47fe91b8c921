"""A colour descriptor of the picture: a hue x saturation x value histogram of the garment's pixels.

ImageNet CNN features largely ignore colour and shoppers do not. The garment is told from the background by its
distance to the colour of the picture's border (product shots sit on a plain backdrop); achromatic pixels (low
saturation) get their own bins by lightness, so black, grey and white garments are told apart. The square root
of the normalised histogram (Hellinger) makes cosine similarity a fair comparison of colour distributions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atelier.encoders.base import Encoder, l2_normalise
from atelier.encoders.pictures import open_picture
from atelier.progress import progress

HUE_BINS, SAT_BINS, VAL_BINS, GREY_BINS = 12, 3, 3, 4
SIZE = 64
BACKGROUND_DISTANCE = 0.12  # RGB distance (0..1.7) from the border colour below which a pixel is backdrop


class ColourEncoder(Encoder):
    """HSV histogram of the garment in the product picture."""

    name = "colour"
    modality = "image"
    dim = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS

    def encode_images(self, sources: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        with progress() as bar:
            task = bar.add_task("colour histograms", total=len(sources))
            for i, source in enumerate(sources):
                picture = open_picture(source)
                if picture is not None:
                    rgb = np.asarray(picture.resize((SIZE, SIZE)), dtype=np.float32) / 255.0
                    vectors[i] = colour_histogram(rgb)
                    ok[i] = True
                bar.advance(task)
        return l2_normalise(np.sqrt(vectors)), ok


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised histogram (sums to 1) of the garment pixels of an H x W x 3 RGB image in [0, 1]."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    backdrop = np.median(border, axis=0)
    pixels = rgb.reshape(-1, 3)
    garment = np.linalg.norm(pixels - backdrop, axis=1) > BACKGROUND_DISTANCE
    if garment.sum() < 0.02 * len(pixels):  # no clear garment: use the whole picture
        garment[:] = True
    h, s, v = _hsv(pixels[garment])
    out = np.zeros(HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS, dtype=np.float64)
    grey = s < 0.2
    chroma = ~grey
    idx = (
        np.minimum((h[chroma] * HUE_BINS).astype(int), HUE_BINS - 1) * SAT_BINS * VAL_BINS
        + np.minimum(((s[chroma] - 0.2) / 0.8 * SAT_BINS).astype(int), SAT_BINS - 1) * VAL_BINS
        + np.minimum((v[chroma] * VAL_BINS).astype(int), VAL_BINS - 1)
    )
    np.add.at(out, idx, 1.0)
    grey_idx = HUE_BINS * SAT_BINS * VAL_BINS + np.minimum((v[grey] * GREY_BINS).astype(int), GREY_BINS - 1)
    np.add.at(out, grey_idx, 1.0)
    return (out / max(out.sum(), 1.0)).astype(np.float32)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised RGB -> HSV, each in [0, 1]."""
    mx = rgb.max(axis=1)
    mn = rgb.min(axis=1)
    delta = mx - mn
    s = np.where(mx > 0, delta / np.maximum(mx, 1e-12), 0.0)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    safe = np.maximum(delta, 1e-12)
    h = (
        np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
        / 6.0
    )
    h = np.where(delta > 0, h, 0.0)
    return h, s, mx
