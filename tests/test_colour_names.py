"""The colour-names encoder (encoders/colour_names.py): whole words, longest first, synonyms folded, a multi-hot
vector; products naming no colour are left to the hybrid's other blocks; its place in the settings."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from atelier.config import HYBRID_BLOCKS, load_settings
from atelier.encoders import ENCODERS, ColourNamesEncoder, HybridEncoder, TfidfEncoder, make_encoder
from atelier.encoders.colour_names import COLOUR_NAMES, SYNONYMS
from atelier.errors import ConfigError


def found(text: str) -> set[str]:
    """The canonical colour names the encoder finds in one text."""
    vector = ColourNamesEncoder().encode_texts([text])[0]
    return {COLOUR_NAMES[i] for i in np.flatnonzero(vector)}


def test_the_vocabulary_is_consistent():
    assert ENCODERS["colour_names"] is ColourNamesEncoder
    assert len(set(COLOUR_NAMES)) == len(COLOUR_NAMES)  # one column per colour
    assert set(SYNONYMS.values()) <= set(COLOUR_NAMES)  # every synonym folds into a column
    assert not set(SYNONYMS) & set(COLOUR_NAMES)


@pytest.mark.parametrize(
    ("text", "colours"),
    [
        ("Men Navy Blue Slim Fit Shirt", {"navy blue"}),  # the longest name, not "blue" as well
        ("Women Rose Gold Watch", {"rose gold"}),
        ("Sea Green Kurta", {"sea green"}),
        ("Off White Sneakers", {"off white"}),
        ("Men Gray Hoodie", {"grey"}),  # synonyms fold into the canonical name
        ("Navy Polo", {"navy blue"}),
        ("Olive Green Cargo Trousers", {"olive"}),
        ("Golden Earrings", {"gold"}),
        ("Multicolor Printed Scarf", {"multi"}),
        ("AQUA swimsuit", {"turquoise"}),  # case does not matter
        ("Black and White Striped Tee", {"black", "white"}),
        ("Red/Blue Checked Shirt", {"red", "blue"}),
        ("Red Dress. Red", {"red"}),  # named twice: still one colour
        ("Bluetooth Speaker", set()),  # whole words only
        ("Redmi Note Case", set()),
        ("Men Tank Top with Pinkish Print", set()),
        ("Greyish Goldenrod Tankini", set()),
        ("", set()),
    ],
)
def test_colour_names_are_whole_words_longest_first_and_folded(text, colours):
    assert found(text) == colours


def test_vectors_are_multi_hot_and_normalised():
    encoder = ColourNamesEncoder().fit(pl.DataFrame())
    vectors = encoder.encode_texts(
        ["Black and White Tee", "Navy Shirt", "Navy Blue Shirt", "Bluetooth mouse"]
    )
    assert vectors.shape == (4, len(COLOUR_NAMES)) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1, 1, 0], abs=1e-6)
    black, white = COLOUR_NAMES.index("black"), COLOUR_NAMES.index("white")
    assert vectors[0, black] == vectors[0, white] == pytest.approx(1 / np.sqrt(2))
    np.testing.assert_array_equal(vectors[1], vectors[2])  # "navy" and "navy blue" are one colour
    assert float(vectors[0] @ vectors[1]) == 0.0


def test_products_read_the_text_fields_and_those_naming_no_colour_are_left_out():
    products = pl.DataFrame(
        {
            "title": ["Men Slim Fit Shirt", "Women Maroon Kurta", "Bluetooth Speaker", None, "Cotton Tee"],
            "color": ["Navy", None, None, None, "White"],
            "description": ["a red print", "a red print", "a red print", "a red print", "a red print"],
        }
    )
    encoder = ColourNamesEncoder().fit(products)
    vectors, ok = encoder.encode_products(products)
    assert ok.tolist() == [True, True, False, False, True]
    assert not vectors[~ok].any()  # a zero row, and not in the mask
    assert np.linalg.norm(vectors[ok], axis=1) == pytest.approx([1, 1, 1], abs=1e-6)
    assert vectors[0, COLOUR_NAMES.index("navy blue")] == 1.0  # from the colour column
    assert vectors[1, COLOUR_NAMES.index("maroon")] == 1.0  # from the title
    assert not vectors[:, COLOUR_NAMES.index("red")].any()  # the description is not one of the default fields
    # the configured fields, and only those, are read
    with_description, ok = ColourNamesEncoder(["description"]).fit(products).encode_products(products)
    assert ok.all() and (with_description[:, COLOUR_NAMES.index("red")] == 1.0).all()
    _, ok = ColourNamesEncoder(["title"]).fit(products).encode_products(products)
    assert ok.tolist() == [False, True, False, False, False]
    _, ok = ColourNamesEncoder(["no_such_column"]).fit(products).encode_products(products)
    assert not ok.any()


def test_round_trips_through_its_spec():
    products = pl.DataFrame(
        {"title": ["Navy Blue Shirt", "Gray Hoodie", "Plain Tee"], "color": ["Navy", None, None]}
    )
    encoder = ColourNamesEncoder(["title"]).fit(products)
    params = encoder.get_params()
    assert params == {"text_fields": ["title"]}  # JSON-ready
    again = make_encoder({"name": "colour_names", **params}).fit(products)
    assert isinstance(again, ColourNamesEncoder) and again.text_fields == ("title",)
    for a, b in zip(encoder.encode_products(products), again.encode_products(products), strict=True):
        np.testing.assert_array_equal(a, b)
    assert make_encoder("colour_names").text_fields == ("title", "color")  # the default fields


def catalogue() -> pl.DataFrame:
    """Four products with the same title and different colours, and one other product."""
    return pl.DataFrame(
        {
            "title": ["slim fit cotton shirt"] * 4 + ["leather ankle boots"],
            "color": ["Navy", "Navy Blue", "Red", None, "Black"],
        }
    )


def hybrid(centre: bool) -> HybridEncoder:
    return HybridEncoder(
        {"tfidf": TfidfEncoder(["title"], []), "colour_names": ColourNamesEncoder(["color"])},
        {"tfidf": 0.8, "colour_names": 0.2},
        centre=centre,
    )


def test_in_the_hybrid_the_same_colour_name_is_nearer_when_the_rest_is_equal():
    products = catalogue()
    model = hybrid(centre=False).fit(products)
    fused, ok = model.encode_products(products)
    assert ok.all()  # no colour name: the text block still encodes the product
    sims = fused @ fused.T
    # known answers: cosine = 0.8 * text cosine (1 for equal titles) + 0.2 * colour cosine
    assert sims[0, 1] == pytest.approx(1.0, abs=1e-5)  # navy and navy blue: one colour
    assert sims[0, 2] == pytest.approx(0.8, abs=1e-5)  # another colour
    # no colour name is not another colour: the text block alone, renormalised
    assert sims[0, 3] == pytest.approx(np.sqrt(0.8), abs=1e-5)
    assert sims[0, 1] > sims[0, 3] > sims[0, 2] > sims[0, 4]
    # centred (the default), the order is the same
    centred = hybrid(centre=True)
    fused, _ = centred.fit_encode(products)
    sims = fused @ fused.T
    np.fill_diagonal(sims, -np.inf)
    assert sims[0].argmax() == 1 and sims[1].argmax() == 0
    assert sims[0, 1] > sims[0, 3] > sims[0, 2] > sims[0, 4]
    assert centred.dimension == fused.shape[1] == centred.encoders_["tfidf"].dimension + len(COLOUR_NAMES)


def test_a_text_query_in_the_hybrid_reads_the_colour_names():
    products = catalogue()
    model = hybrid(centre=False).fit(products)
    fused, _ = model.encode_products(products)
    query = model.encode_texts(["navy shirt"])
    scores = (query @ fused.T)[0]
    assert scores.argmax() in (0, 1) and scores[0] == pytest.approx(scores[1], abs=1e-6)
    assert scores[0] > scores[3] > scores[2]


def test_settings_weigh_the_new_blocks_and_refuse_unknown_ones():
    from atelier.models import hybrid_parts

    assert {"colour_names", "mobilenet_v2", "efficientnet_lite0"} <= set(HYBRID_BLOCKS)
    settings = load_settings()
    weights = settings.similar.hybrid_weights
    assert set(weights) <= set(HYBRID_BLOCKS) and weights["colour_names"] > 0
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
    parts = hybrid_parts(settings)
    assert set(parts) == set(HYBRID_BLOCKS)  # every block the settings may weigh can be built
    assert isinstance(parts["colour_names"], ColourNamesEncoder)
    assert list(parts["colour_names"].text_fields) == settings.similar.text_fields
    assert parts["mobilenet_v2"].get_params()["network"] == "mobilenet_v2"
    assert parts["image"] is parts[settings.similar.image_network]
    assert parts["efficientnet_lite0"].get_params()["network"] == "efficientnet_lite0"
    chosen = load_settings(similar={"hybrid_weights": {"colour_names": 0.3, "tfidf": 0.7}})
    assert chosen.similar.hybrid_weights == {"colour_names": 0.3, "tfidf": 0.7}
    for bad in ({"colour_name": 1.0}, {"colour_names": -0.1, "tfidf": 1.0}, {"colour_names": 0.0}):
        with pytest.raises(ConfigError, match=r"similar\.hybrid_weights") as err:
            load_settings(similar={"hybrid_weights": bad})
        assert "efficientnet_lite0" in str(err.value)  # the message lists the blocks it knows


def test_hybrid_weights_from_a_file_are_checked_too(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[similar]\nhybrid_weights = { colour_names = 0.25, efficientnet_lite0 = 0.75 }\n")
    assert load_settings(good).similar.hybrid_weights == {"colour_names": 0.25, "efficientnet_lite0": 0.75}
    bad = tmp_path / "bad.toml"
    bad.write_text("[similar]\nhybrid_weights = { colours = 1.0 }\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*similar\.hybrid_weights"):
        load_settings(bad)


def test_a_weight_on_image_joins_the_block_of_the_configured_network():
    from atelier.models import REGISTRY

    settings = load_settings(similar={"hybrid_weights": {"image": 0.3, "mobilenet_v2": 0.2, "tfidf": 0.5}})
    hybrid = REGISTRY["hybrid"][1](settings).encoder
    assert hybrid.weights == {"mobilenet_v2": pytest.approx(0.5), "tfidf": 0.5}
    assert set(hybrid.encoders_) == {"mobilenet_v2", "tfidf"}
