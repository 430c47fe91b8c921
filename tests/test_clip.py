"""The clip encoder (FashionCLIP style) on a tiny random CLIP saved like the hub checkpoint (see clip_support).

Random weights know nothing about fashion, so these tests check what holds for any CLIP: the shapes, unit
vectors, one shared space for text and pictures, repeatability, and the exact identities (the same picture or
title gives the same vector; a "both" vector sits halfway between its picture and its text).
"""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from PIL import Image

from atelier.config import load_settings
from atelier.encoders import ENCODERS, ClipEncoder, make_encoder
from atelier.errors import InputError, NotFittedError
from atelier.models import make_model
from atelier.models.similar import SimilarStyles
from clip_support import PROJECTION_DIM
from evaluate_fixtures import tiny_dataset
from picture_support import count_downloads, give_up_quickly, picture_server

EMPTY = pl.DataFrame()


@pytest.fixture(scope="module")
def encoder(tiny_clip) -> ClipEncoder:
    return ClipEncoder(str(tiny_clip), batch_size=2).fit(EMPTY)


def picture(path, garment_rgb, size=(40, 48), background=(245, 245, 245)) -> str:
    img = Image.new("RGB", size, background)
    img.paste(Image.new("RGB", (size[0] // 2, size[1] // 2), garment_rgb), (size[0] // 4, size[1] // 4))
    img.save(path)
    return str(path)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("clip-pictures")
    (folder / "corrupt.jpg").write_bytes(b"not a picture at all")
    return {
        "red": picture(folder / "red.png", (200, 20, 20)),
        "red_again": picture(folder / "red_again.png", (200, 20, 20)),
        "blue": picture(folder / "blue.png", (20, 30, 200), size=(64, 40)),
        "missing": str(folder / "missing.png"),
        "corrupt": str(folder / "corrupt.jpg"),
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a) @ np.asarray(b).T


def test_registered_by_name_and_in_the_settings(tiny_clip):
    assert ENCODERS["clip"] is ClipEncoder
    assert ClipEncoder.modality == "both"
    built = make_encoder({"name": "clip", "model": str(tiny_clip), "product_vector": "text"})
    assert isinstance(built, ClipEncoder) and built.product_vector == "text"
    assert load_settings().similar.clip_model == str(tiny_clip)  # the conftest points the setting here
    settings = load_settings(similar={"serve": ["clip"], "hybrid_weights": {"clip": 0.7, "colour": 0.3}})
    assert settings.similar.serve == ["clip"]


def test_texts_are_unit_vectors_of_the_projection_dimension(encoder):
    texts = ["Red summer dress", "black leather boots", "", "   ", "red summer dress"]
    vectors = encoder.encode_texts(texts)
    assert encoder.dimension == PROJECTION_DIM
    assert vectors.shape == (5, PROJECTION_DIM) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1, 0, 0, 1], abs=1e-5)  # empty: zero rows
    # The tokenizer lower-cases: the same words give the same vector, in any batch.
    np.testing.assert_allclose(vectors[4], vectors[0], atol=1e-5)
    assert cosines(vectors[0], vectors[1]) < 1 - 1e-4
    np.testing.assert_allclose(encoder.encode_texts(["black leather boots"])[0], vectors[1], atol=1e-5)
    assert encoder.encode_texts([]).shape == (0, PROJECTION_DIM)


def test_the_vectors_are_clips_projected_embeddings(encoder, pictures):
    """transformers 5 returns a model output from get_*_features; the encoder takes its projected embedding."""
    import torch

    network, processor = encoder.network_, encoder.processor_
    with torch.inference_mode():
        tokens = processor.tokenizer(["red summer dress"], return_tensors="pt")
        text = network.text_projection(network.text_model(**tokens).pooler_output).numpy()
        pixels = processor.image_processor(images=[Image.open(pictures["red"])], return_tensors="pt")
        image = network.visual_projection(network.vision_model(**pixels).pooler_output).numpy()
    np.testing.assert_allclose(
        encoder.encode_texts(["red summer dress"])[0], text[0] / np.linalg.norm(text), atol=1e-5
    )
    np.testing.assert_allclose(
        encoder.encode_images([pictures["red"]])[0][0], image[0] / np.linalg.norm(image), atol=1e-5
    )


def test_a_text_longer_than_the_model_reads_is_cut_not_refused(encoder):
    long = "a long flowing maxi dress in soft cotton with pockets " * 40
    vectors = encoder.encode_texts([long, long + " and more"])
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1], abs=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)  # only the first tokens are read


def test_pictures_bad_ones_are_zero_rows_never_errors(encoder, pictures):
    sources = [pictures[k] for k in ("red", "missing", "blue", "corrupt", "red_again")] + [None]
    vectors, ok = encoder.encode_images(sources)
    assert ok.tolist() == [True, False, True, False, True, False]
    assert vectors.shape == (6, PROJECTION_DIM) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 0, 1, 0, 1, 0], abs=1e-5)
    assert cosines(vectors[0], vectors[4]) == pytest.approx(1.0, abs=1e-5)  # the same picture, another file
    assert cosines(vectors[0], vectors[2]) < 1 - 1e-4
    alone, _ = encoder.encode_images([pictures["blue"]])  # a picture's vector does not depend on its batch
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-5)


def test_a_text_query_searches_the_pictures(encoder, pictures):
    """Cross-modal search: a query's text vector is scored directly against picture vectors."""
    images, ok = encoder.encode_images([pictures["red"], pictures["blue"], pictures["missing"]])
    query = encoder.encode_texts(["red dress"])
    assert query.shape[1] == images.shape[1] == encoder.dimension
    scores = cosines(query, images)[0]
    assert np.all(np.abs(scores[ok]) <= 1 + 1e-5) and scores[~ok] == pytest.approx([0.0])
    model = SimilarStyles(ClipEncoder(encoder.model, product_vector="image"), exclude_variants=False).fit(
        _shop(pictures)
    )
    np.testing.assert_allclose(model.vectors_[:3], images[[0, 1, 0]], atol=1e-5)
    items, scores = model.related(sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 5)), 1)
    assert items[0, 0] == 2 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)  # the same picture, first


def _shop(pictures: dict[str, str]):
    products = [
        {"product_id": "p0", "group_id": "p0", "title": "Red dress", "image_path": pictures["red"]},
        {"product_id": "p1", "group_id": "p1", "title": "Blue shirt", "image_path": pictures["blue"]},
        {"product_id": "p2", "group_id": "p2", "title": "Red gown", "image_path": pictures["red_again"]},
        {"product_id": "p3", "group_id": "p3", "title": "Green scarf", "image_path": pictures["corrupt"]},
        {"product_id": "p4", "group_id": "p4", "title": None, "image_path": pictures["missing"]},
    ]
    rows = [("u1", "p0", "2024-01-01", "s1"), ("u1", "p1", "2024-01-01", "s1")]
    return tiny_dataset(rows, products)


def test_product_vector_modes(tiny_clip, pictures):
    products = _shop(pictures).products
    texts = ["Red dress", "Blue shirt", "Red gown", "Green scarf", ""]
    both = ClipEncoder(str(tiny_clip), text_fields=["title"]).fit(products)
    text_vectors = both.encode_texts(texts)
    image_vectors, _ = both.encode_images(
        [pictures[k] for k in ("red", "blue", "red_again", "corrupt")] + [None]
    )

    by_text, ok = (
        ClipEncoder(str(tiny_clip), ["title"], product_vector="text").fit(products).encode_products(products)
    )
    assert ok.tolist() == [True, True, True, True, False]
    np.testing.assert_allclose(by_text, text_vectors, atol=1e-5)

    by_image, ok = (
        ClipEncoder(str(tiny_clip), ["title"], product_vector="image").fit(products).encode_products(products)
    )
    assert ok.tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(by_image, image_vectors, atol=1e-5)

    mixed, ok = both.encode_products(products)
    assert ok.tolist() == [True, True, True, True, False]  # the scarf keeps its text, p4 has neither
    assert np.linalg.norm(mixed, axis=1) == pytest.approx([1, 1, 1, 1, 0], abs=1e-5)
    # The normalised mean of two unit vectors is equally close to both: halfway between picture and words.
    to_text = np.sum(mixed[:3] * text_vectors[:3], axis=1)
    to_image = np.sum(mixed[:3] * image_vectors[:3], axis=1)
    np.testing.assert_allclose(to_text, to_image, atol=1e-5)
    expected = text_vectors[0] + image_vectors[0]
    np.testing.assert_allclose(mixed[0], expected / np.linalg.norm(expected), atol=1e-5)
    np.testing.assert_allclose(mixed[3], text_vectors[3], atol=1e-5)  # no picture: the text alone


def test_two_fits_give_identical_vectors(tiny_clip, pictures):
    products = _shop(pictures).products
    first, ok1 = ClipEncoder(str(tiny_clip)).fit(products).encode_products(products)
    again, ok2 = ClipEncoder(str(tiny_clip)).fit(products).encode_products(products)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(ok1, ok2)


def test_a_folder_resaved_by_transformers_gives_the_same_vectors(encoder, tmp_path, pictures):
    """The hub layout (vocab.json, preprocessor_config.json) and transformers 5's own (tokenizer.json,
    processor_config.json) load alike."""
    encoder.network_.save_pretrained(tmp_path / "resaved")
    encoder.processor_.save_pretrained(tmp_path / "resaved")
    resaved = ClipEncoder(str(tmp_path / "resaved")).fit(EMPTY)
    texts = ["Red summer dress", "boots"]
    np.testing.assert_allclose(resaved.encode_texts(texts), encoder.encode_texts(texts), atol=1e-6)
    sources = [pictures["red"], pictures["blue"]]
    np.testing.assert_allclose(
        resaved.encode_images(sources)[0], encoder.encode_images(sources)[0], atol=1e-6
    )


def test_a_model_that_cannot_be_loaded_is_one_clear_line(tmp_path):
    for model in (str(tmp_path / "no-such-folder"), "./not/a/saved/model"):
        with pytest.raises(InputError, match="cannot load CLIP model") as err:
            ClipEncoder(model).fit(EMPTY)
        message = str(err.value)
        assert model in message and "local folder" in message and "network" in message
        assert "\n" not in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="cannot load CLIP model") as err:
        ClipEncoder(str(tmp_path / "empty")).fit(EMPTY)
    assert "\n" not in str(err.value)


def test_bad_arguments_and_use_before_fit(tiny_clip):
    with pytest.raises(InputError, match="product_vector"):
        ClipEncoder(str(tiny_clip), product_vector="pixels")
    with pytest.raises(NotFittedError, match="not fitted"):
        ClipEncoder(str(tiny_clip)).encode_texts(["dress"])
    with pytest.raises(NotFittedError, match="not fitted"):
        ClipEncoder(str(tiny_clip)).encode_images([None])


def test_similar_styles_with_clip_saves_and_loads(tiny_clip, pictures, tmp_path):
    data = _shop(pictures)
    model = make_model("clip", load_settings()).fit(data)
    assert model.encoder.model == str(tiny_clip)
    assert model.encoded_.tolist() == [True, True, True, True, False]
    each_item = sp.identity(data.n_items, format="csr")
    items, _ = model.related(each_item, 3)
    assert all(i not in row for i, row in enumerate(items))
    loaded = SimilarStyles.load(model.save(tmp_path / "clip"))
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.related(each_item, 3)[0], items)
    # A search box query needs the network again: the loaded encoder fits (loads the weights) and agrees.
    loaded.encoder.fit(data.products)
    np.testing.assert_allclose(
        loaded.encoder.encode_texts(["red dress"]), model.encoder.encode_texts(["red dress"]), atol=1e-6
    )


def test_clip_is_a_block_of_the_hybrid(pictures):
    settings = load_settings(similar={"hybrid_weights": {"clip": 0.6, "colour": 0.4}})
    model = make_model("hybrid", settings).fit(_shop(pictures))
    assert set(model.encoder.encoders_) == {"clip", "colour"}
    assert model.encoder.dimension == PROJECTION_DIM + model.encoder.encoders_["colour"].dimension
    query = model.encoder.encode_texts(["red dress"])  # the clip block reads the words, colour stays zero
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    assert not query[0, PROJECTION_DIM:].any()


def test_clip_downloads_pictures_like_the_other_image_encoders(tiny_clip, pictures, tmp_path, monkeypatch):
    """Pictures given as addresses go through the shared download pass: once per picture for a hybrid of clip
    and colour, and a dead host is given up instead of being asked for every product."""
    give_up_quickly(monkeypatch)
    asked = count_downloads(monkeypatch)
    for name in ("red", "blue"):
        shutil.copy(pictures[name], tmp_path / f"{name}.png")
    with picture_server(tmp_path) as (base, requests):
        by_address = {"red": f"{base}/red.png", "blue": f"{base}/blue.png", "red_again": f"{base}/red.png"}
        shop = _shop({**pictures, **by_address})
        products = shop.products.with_columns(
            image_urls=pl.col("image_path").map_elements(lambda p: [p], return_dtype=pl.List(pl.String)),
            image_path=pl.when(pl.col("image_path").str.starts_with("http"))
            .then(None)
            .otherwise("image_path"),
        )
        local = ClipEncoder(str(tiny_clip), product_vector="image").fit(products)
        expected, expected_ok = local.encode_products(_shop(pictures).products)

        hybrid = make_encoder(
            {
                "name": "hybrid",
                "parts": {"clip": {"name": "clip", "model": str(tiny_clip)}, "colour": "colour"},
                "weights": {"clip": 0.5, "colour": 0.5},
            }
        )
        hybrid.fit(products)
        assert requests == {"/red.png": 2, "/blue.png": 1}  # one download per product, for both blocks

        requests.clear()
        ClipEncoder(str(tiny_clip), product_vector="text").fit(products).encode_products(products)
        assert not requests  # indexing the text alone reads no picture

        requests.clear()
        vectors, ok = local.encode_products(products)
        np.testing.assert_allclose(vectors, expected, atol=1e-5)  # the same pictures, by address or by file
        assert ok.tolist() == expected_ok.tolist() == [True, True, True, False, False]

    dead = "127.0.0.1:9"  # nothing listens on 9: refused at once
    gone = products.with_columns(
        image_path=None,
        image_urls=pl.format("http://{}/{}.png", pl.lit(dead), "product_id").map_elements(
            lambda u: [u], return_dtype=pl.List(pl.String)
        ),
    )
    gone = pl.concat([gone] * 3).with_columns(product_id=pl.int_range(15).cast(pl.String))
    asked.clear()
    _, ok = local.encode_products(gone)
    assert asked[dead] == 3 and not ok.any()  # then its other twelve pictures were skipped
