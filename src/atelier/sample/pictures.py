"""Product pictures for the sample shop, drawn so that looks carry meaning.

The silhouette says the department (a dress, trousers, a bag, ...), the fill is the product's colour and the
texture its pattern, so an image encoder that works must put a red striped dress near other red dresses.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 128
BACKGROUND = (236, 236, 232)

# Silhouettes as polygons on a 128 x 128 canvas.
_SHAPES: dict[str, list[tuple[int, int]]] = {
    "dress": [(48, 14), (80, 14), (84, 44), (76, 56), (104, 116), (24, 116), (52, 56), (44, 44)],
    "top": [
        (40, 22),
        (56, 16),
        (72, 16),
        (88, 22),
        (112, 46),
        (98, 58),
        (88, 50),
        (88, 100),
        (40, 100),
        (40, 50),
        (30, 58),
        (16, 46),
    ],
    "tshirt": [
        (42, 20),
        (56, 16),
        (72, 16),
        (86, 20),
        (108, 36),
        (98, 50),
        (86, 44),
        (86, 108),
        (42, 108),
        (42, 44),
        (30, 50),
        (20, 36),
    ],
    "pants": [(38, 12), (90, 12), (98, 118), (74, 118), (64, 50), (54, 118), (30, 118)],
    "skirt": [(46, 30), (82, 30), (104, 104), (24, 104)],
    "jacket": [
        (36, 18),
        (54, 12),
        (74, 12),
        (92, 18),
        (114, 100),
        (98, 104),
        (90, 60),
        (90, 112),
        (38, 112),
        (38, 60),
        (30, 104),
        (14, 100),
    ],
    "shoe": [(14, 70), (40, 66), (62, 52), (78, 56), (112, 80), (114, 96), (14, 96)],
    "bag": [(26, 48), (102, 48), (108, 112), (20, 112)],
    "hat": [(14, 86), (38, 80), (42, 40), (64, 30), (86, 40), (90, 80), (114, 86), (114, 94), (14, 94)],
}


def _pattern_layer(pattern: str, color: tuple[int, int, int]) -> Image.Image:
    """A full-canvas texture: the base colour with the pattern drawn in a contrasting shade."""
    layer = Image.new("RGB", (SIZE, SIZE), color)
    draw = ImageDraw.Draw(layer)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (20, 20, 20) if luminance > 140 else (245, 245, 245)
    if pattern == "Striped":
        for x in range(0, SIZE, 12):
            draw.rectangle([x, 0, x + 4, SIZE], fill=ink)
    elif pattern == "Polka Dot":
        for y in range(4, SIZE, 14):
            for x in range(4 + (y // 14 % 2) * 7, SIZE, 14):
                draw.ellipse([x, y, x + 5, y + 5], fill=ink)
    elif pattern == "Checked":
        for x in range(0, SIZE, 16):
            draw.rectangle([x, 0, x + 2, SIZE], fill=ink)
            draw.rectangle([0, x, SIZE, x + 2], fill=ink)
    elif pattern == "Floral":
        for y in range(6, SIZE, 20):
            for x in range(6 + (y // 20 % 2) * 10, SIZE, 20):
                for dx, dy in ((0, -4), (4, 0), (0, 4), (-4, 0)):
                    draw.ellipse([x + dx - 3, y + dy - 3, x + dx + 3, y + dy + 3], fill=ink)
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(230, 200, 40))
    return layer


def draw_product(silhouette: str, color: tuple[int, int, int], pattern: str) -> Image.Image:
    """The picture of one product: a patterned, coloured silhouette on a light background."""
    canvas = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).polygon(_SHAPES[silhouette], fill=255)
    canvas.paste(_pattern_layer(pattern, color), (0, 0), mask)
    ImageDraw.Draw(canvas).polygon(_SHAPES[silhouette], outline=(60, 60, 60))
    return canvas


def write_picture(path: Path, silhouette: str, color: tuple[int, int, int], pattern: str) -> None:
    """Draw a product and save it as PNG at ``path``."""
    draw_product(silhouette, color, pattern).save(path, format="PNG", optimize=False)
