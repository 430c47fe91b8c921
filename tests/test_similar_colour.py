"""The colour encoder's garment mask and centre weight (encoders/colour.py)."""

import numpy as np
import pytest

from atelier.encoders.colour import GREY_BINS, colour_histogram, garment_mask

WHITE = np.array([1.0, 1.0, 1.0])


def white_shirt() -> np.ndarray:
    """A near-white shirt with a thin grey outline, on a white backdrop (as FPI shoots white garments)."""
    rgb = np.ones((64, 64, 3)) * WHITE
    rgb[8:56, 16:48] = 0.5  # the outline
    rgb[10:54, 18:46] = 0.97  # the shirt, within the backdrop's colour distance
    return rgb


def test_a_white_garment_enclosed_by_its_outline_is_not_backdrop():
    mask = garment_mask(white_shirt())
    assert mask[30, 30] and mask[10, 18] and not mask[0, 0] and not mask[30, 5]
    histogram = colour_histogram(white_shirt())
    assert histogram.sum() == pytest.approx(1.0)
    assert histogram[-1] > 0.7  # the lightest grey bin: a white garment, not its outline


def test_pixels_near_the_centre_count_more():
    rgb = np.ones((64, 64, 3)) * WHITE
    rgb[24:40, 24:40] = [0.8, 0.05, 0.05]  # a red garment in the middle, 256 pixels
    rgb[2:10, 2:34] = [0.05, 0.05, 0.8]  # a blue one of the same area near the edge
    histogram = colour_histogram(rgb)
    red, blue = histogram[: 3 * 3].sum(), histogram[8 * 9 : 9 * 9].sum()
    assert red > 3 * blue > 0
    assert histogram[-GREY_BINS:].sum() == pytest.approx(0.0)  # the backdrop is left out


def test_a_picture_without_a_clear_garment_is_read_whole():
    plain = np.zeros((16, 16, 3)) + np.array([0.2, 0.6, 0.2])
    assert not garment_mask(plain).any()
    histogram = colour_histogram(plain)
    assert histogram.sum() == pytest.approx(1.0) and histogram.max() == pytest.approx(1.0)
