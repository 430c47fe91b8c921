"""A colour descriptor of the picture: a hue x saturation x value histogram of the garment's pixels.

ImageNet CNN features largely ignore colour and shoppers do not. Product shots sit on a plain backdrop: the
backdrop is the region of pixels close to the border colour that is connected to the border (a flood fill), so a
white shirt on a white backdrop keeps its pixels when its outline or shading encloses them (a plain distance to
the border colour threw them away and left the model's skin and jeans). Pixels count more near the centre of the
picture, where the garment is, than at its edges (a Gaussian weight), which damps the trousers, shoes and hair
around a worn top. Achromatic pixels (low saturation) get their own bins by lightness, so black, grey and white
garments are told apart. The square root of the normalised histogram (Hellinger) makes cosine similarity a fair
comparison of colour distributions.

On the FPI tuning sample (seed 11) the flood fill and centre weight lifted the share of neighbours of the same
base colour from 0.447 to 0.457 for this encoder alone, and "same type and colour" of the hybrid from 0.342 to
0.346 at equal weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from atelier.encoders.base import Encoder, l2_normalise
from atelier.encoders.pictures import open_picture
from atelier.progress import progress

HUE_BINS, SAT_BINS, VAL_BINS, GREY_BINS = 12, 3, 3, 4
SIZE = 64
BACKGROUND_DISTANCE = (
    0.05  # RGB distance (0..1.7) from the border colour within which a pixel can be backdrop
)
CENTRE_SIGMA = 0.25  # width of the Gaussian weight of a pixel by its distance to the centre, in picture sides


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
    """Normalised histogram (sums to 1) of the garment pixels of an H x W x 3 RGB image in [0, 1], each pixel
    weighted by its closeness to the centre."""
    garment = garment_mask(rgb).ravel()
    pixels = rgb.reshape(-1, 3)
    if garment.sum() < 0.02 * len(pixels):  # no clear garment: use the whole picture
        garment[:] = True
    height, width = rgb.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    y = y / max(height - 1, 1) - 0.5
    x = x / max(width - 1, 1) - 0.5
    weight = np.exp(-(x**2 + y**2) / (2 * CENTRE_SIGMA**2)).ravel()[garment]
    h, s, v = _hsv(pixels[garment])
    out = np.zeros(HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS, dtype=np.float64)
    grey = s < 0.2
    chroma = ~grey
    idx = (
        np.minimum((h[chroma] * HUE_BINS).astype(int), HUE_BINS - 1) * SAT_BINS * VAL_BINS
        + np.minimum(((s[chroma] - 0.2) / 0.8 * SAT_BINS).astype(int), SAT_BINS - 1) * VAL_BINS
        + np.minimum((v[chroma] * VAL_BINS).astype(int), VAL_BINS - 1)
    )
    np.add.at(out, idx, weight[chroma])
    grey_idx = HUE_BINS * SAT_BINS * VAL_BINS + np.minimum((v[grey] * GREY_BINS).astype(int), GREY_BINS - 1)
    np.add.at(out, grey_idx, weight[grey])
    return (out / max(out.sum(), 1e-12)).astype(np.float32)


def garment_mask(rgb: np.ndarray) -> np.ndarray:
    """H x W mask of the pixels that are not backdrop: the backdrop is every pixel within BACKGROUND_DISTANCE of
    the border's median colour and connected (4-neighbours) to the border through such pixels."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    near = np.linalg.norm(rgb - np.median(border, axis=0), axis=2) <= BACKGROUND_DISTANCE
    regions, _ = ndimage.label(near)
    touching = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    return ~np.isin(regions, touching[touching > 0])


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
