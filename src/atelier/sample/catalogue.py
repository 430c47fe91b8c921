"""The sample shop's catalogue: styles with colour variants, written as a raw TwentyToo products export.

Everything that makes the real export hard to read is reproduced on purpose: ids wrapped in ``ObjectId('...')``,
prices as stringified Python lists with sale entries, ``other_attributes`` as escaped pseudo-JSON with inch marks
inside values, colour variants linked through ``child_product_ids``, exact duplicate rows and a few broken rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

# department -> (silhouette drawn in its picture, audience, base price in USD)
DEPARTMENTS: dict[str, tuple[str, str, float]] = {
    "Dresses": ("dress", "women", 39.0),
    "Tops": ("top", "women", 19.0),
    "T-Shirts": ("tshirt", "unisex", 14.0),
    "Pants": ("pants", "men", 32.0),
    "Jeans": ("pants", "unisex", 45.0),
    "Skirts": ("skirt", "women", 27.0),
    "Jackets": ("jacket", "unisex", 69.0),
    "Sneakers": ("shoe", "unisex", 59.0),
    "Bags": ("bag", "women", 49.0),
    "Hats": ("hat", "unisex", 17.0),
}
COLORS: dict[str, tuple[int, int, int]] = {
    "Black": (25, 25, 28),
    "White": (240, 240, 236),
    "Navy Blue": (28, 42, 92),
    "Red": (200, 30, 40),
    "Russet Orange": (190, 90, 40),
    "Beige": (222, 200, 160),
    "Olive Green": (100, 110, 45),
    "Pink": (235, 140, 175),
    "Grey": (128, 128, 132),
    "Mustard Yellow": (215, 170, 30),
    "Brown": (110, 70, 40),
    "Light Blue": (140, 185, 230),
}
PATTERNS = ["Plain", "Striped", "Polka Dot", "Checked", "Floral"]
MATERIALS = ["Cotton", "Polyester", "Denim", "Linen", "Viscose", "Wool", "Leather"]
BRANDS = ["Premoda", "GLOWMODE", "Northwind", "Rue Lumiere", "Kasa", "Verdi", "Moss & Pine", "Sahar"]
WEBSITES = ["tfk", "shn", "zlo"]
STYLE_WORDS = ["classic", "retro", "everyday", "oversized", "slim", "relaxed", "cropped", "wrap", "essential"]


@dataclass
class Product:
    """One product as the generator knows it (the truth behind the messy row)."""

    product_id: str
    mongo_id: str
    style: int
    department: str
    color: str
    pattern: str
    material: str
    brand: str
    website: str
    audience: str
    title: str
    price: float
    sale_price: float | None
    rating: float
    rating_count: int
    available: bool
    children: list[str] = field(default_factory=list)


def make_catalogue(n_products: int, rng: np.random.Generator) -> list[Product]:
    """Draw ``n_products`` products grouped into styles of one to three colour variants."""
    products: list[Product] = []
    departments = list(DEPARTMENTS)
    style = 0
    while len(products) < n_products:
        dept = departments[style % len(departments)] if style < len(departments) else rng.choice(departments)
        _, audience, base = DEPARTMENTS[dept]
        pattern = str(rng.choice(PATTERNS, p=[0.4, 0.15, 0.15, 0.15, 0.15]))
        material = "Denim" if dept == "Jeans" else str(rng.choice(MATERIALS))
        brand = str(rng.choice(BRANDS))
        word = str(rng.choice(STYLE_WORDS))
        n_variants = min(int(rng.choice([1, 1, 2, 2, 3])), n_products - len(products))
        colors = rng.choice(list(COLORS), size=n_variants, replace=False)
        price = round(float(base * rng.uniform(0.7, 1.6)), 2)
        title_core = f"{word} {pattern.lower()} {material.lower()} {dept.lower().rstrip('s')}"
        if dept == "Pants" and rng.random() < 0.3:
            title_core += ' 24" leggings'  # an inch mark inside a value, as in the seeds
        group: list[Product] = []
        for color in colors:
            sale = round(price * float(rng.choice([0.5, 0.7, 0.8])), 2) if rng.random() < 0.3 else None
            group.append(
                Product(
                    product_id=rng.bytes(20).hex(),
                    mongo_id=rng.bytes(12).hex(),
                    style=style,
                    department=dept,
                    color=str(color),
                    pattern=pattern,
                    material=material,
                    brand=brand,
                    website=str(rng.choice(WEBSITES)),
                    audience=audience
                    if audience != "unisex"
                    else str(rng.choice(["women", "men", "unisex"])),
                    title=f"{brand} {title_core}",
                    price=price,
                    sale_price=sale,
                    rating=round(float(rng.uniform(3.0, 5.0)), 2),
                    rating_count=int(rng.integers(0, 400)),
                    available=bool(rng.random() < 0.9),
                )
            )
        if len(group) > 1:
            group[0].children = [p.product_id for p in group[1:]]
        products.extend(group)
        style += 1
    return products


def _q(text: str) -> str:
    """A string value as the export escapes it: ``\\"...\\"`` with inner quotes escaped the same way."""
    return '\\"' + text.replace('"', '\\"') + '\\"'


def price_cell(p: Product, rng: np.random.Generator) -> str:
    """The stringified price list: one entry, or the original plus a running sale."""
    start = date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 200)))
    py_style = rng.random() < 0.8  # most cells are Python literals, some are JSON
    t, f = ("True", "False") if py_style else ("true", "false")
    original = (
        f'{{"value": {p.price}, "currency": "USD", "is_original": {t}, '
        f'"valid_from": "{start:%Y/%m/%d}", "valid_to": {f}}}'
    )
    if p.sale_price is None:
        return f"[{original}]"
    sale_from = start + timedelta(days=int(rng.integers(30, 120)))
    original = original.replace(f'"valid_to": {f}', f'"valid_to": "{sale_from:%Y/%m/%d}"')
    sale = (
        f'{{"value": {p.sale_price}, "currency": "USD", "is_original": {f}, '
        f'"valid_from": "{sale_from:%Y/%m/%d}", "valid_to": {f}}}'
    )
    return f"[{original}, {sale}]"


def attributes_cell(p: Product, rng: np.random.Generator) -> str:
    """The escaped pseudo-JSON ``other_attributes`` cell."""
    dept_word = p.department.lower().rstrip("s")
    description = (
        f"a {dept_word} with color: {p.color.lower()} _ department: {p.department.lower()} _ "
        f"pattern: {p.pattern.lower()} _ material: {p.material.lower()} _ target_audience: {p.audience} _ "
        f"title: {p.title.lower()}"
    )
    images = ";".join(f"https://img.example-shop.com/{p.product_id[:12]}_{i}.jpg" for i in range(3))
    children = "null" if not p.children else "[" + ", ".join(_q(c) for c in p.children) + "]"
    share = int(rng.integers(5, 100))
    fields = [
        ("_id", f"ObjectId({_q(p.mongo_id)})"),
        ("sku", _q(f"st{rng.integers(10**15, 10**16)}")),
        ("Product_URL", _q(f"https://www.example-shop.com/{p.product_id[:10]}.html?src=search&p=1")),
        ("All_Reviews_Rating", _q(str(p.rating))),
        ("All_Reviews_Count", f"{float(p.rating_count)}"),
        ("Clothing-Color", f"[{_q(p.color)}]"),
        ("Thumbnail", "{" + f"{_q('Type')}: {_q('image')}, {_q('Name')}: {_q(p.color)}" + "}"),
        ("Images", _q(images)),
        ("CM_product_measurements", _q("size:S;Length:70 cm ; size:M;Length:72 cm ; size:L;Length:74 cm")),
        ("Availability", "true" if p.available else "false"),
        ("Clothing-Department", f"[{_q(p.department)}]"),
        ("preview_image", _q(f"{p.product_id}.png")),
        ("status", f"[{_q('new')}]"),
        ("child_product_ids", children),
        ("lang", _q("en")),
        ("Clothing-Pattern", f"[{_q(p.pattern)}]"),
        ("Clothing-Material", f"[{_q(p.material)}]"),
        ("Clothing-Composition", f"[{_q(f'{share}% {p.material}')}]"),
        ("All-Care", _q("Machine wash, do not dry clean")),
        ("Original>Description", _q(f"Color: {p.color}; Pattern Type: {p.pattern}; Material: {p.material}")),
        ("s_f", f"[{_q('All_Reviews_Rating')}, {_q('Clothing-Color')}]"),
        ("is_available", "true" if p.available else "false"),
        ("product_description", _q(description)),
    ]
    return "{" + ", ".join(f"{_q(k)}: {v}" for k, v in fields) + "}"


def product_rows(products: list[Product], rng: np.random.Generator) -> tuple[list[dict], dict[str, int]]:
    """Raw CSV rows for the catalogue plus the messiness planted in them (counts by kind)."""
    rows = []
    for p in products:
        rows.append(
            {
                "_id": f"ObjectId('{p.mongo_id}')",
                "product_id": p.product_id,
                "title": p.title,
                "brand": p.brand,
                "website": p.website,
                "target_audience": p.audience,
                "color": p.color if rng.random() > 0.05 else "",  # colour sometimes only in attributes
                "department": p.department,
                "price": price_cell(p, rng),
                "other_attributes": attributes_cell(p, rng),
            }
        )
    planted = {"duplicate_rows": 0, "bad_price_rows": 0, "bad_id_rows": 0}
    n_dup = max(1, len(rows) // 100)
    for i in rng.choice(len(rows), size=n_dup, replace=False):
        rows.append(dict(rows[int(i)]))
        planted["duplicate_rows"] += 1
    # Broken rows for a product that does not exist otherwise, so no real product is lost.
    for k in range(max(1, len(products) // 200)):
        bad = dict(rows[k])
        bad["product_id"] = rng.bytes(20).hex()
        bad["price"] = json.dumps("price on request")
        rows.append(bad)
        planted["bad_price_rows"] += 1
        broken_id = dict(rows[k])
        broken_id["product_id"] = "N/A"
        rows.append(broken_id)
        planted["bad_id_rows"] += 1
    order = rng.permutation(len(rows))
    return [rows[int(i)] for i in order], planted
