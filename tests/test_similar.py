"""Similar Styles: encoders (normalised, known answers), the exact index, and the similar-items model."""

from __future__ import annotations

import ssl
import tempfile
import threading

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from PIL import Image

from atelier.encoders import ColourEncoder, TfidfEncoder, make_encoder
from atelier.encoders.colour import colour_histogram
from atelier.errors import InputError
from atelier.features.dataset import Dataset
from atelier.index import AnnoyIndex, ExactIndex, HnswIndex
from atelier.models.similar import SimilarStyles
from picture_support import count_downloads, give_up_quickly, picture_server


def picture(path, garment_rgb, background=(245, 245, 245)):
    img = Image.new("RGB", (40, 40), background)
    img.paste(Image.new("RGB", (20, 24), garment_rgb), (10, 8))
    img.save(path)
    return str(path)


def norms(vectors) -> np.ndarray:
    if sp.issparse(vectors):
        return np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1))).ravel()
    return np.linalg.norm(vectors, axis=1)


def test_colour_histogram_sees_the_garment_not_the_backdrop(tmp_path):
    red = ColourEncoder().fit(pl.DataFrame())
    products = pl.DataFrame(
        {
            "image_path": [
                picture(tmp_path / "red.png", (200, 20, 20)),
                picture(tmp_path / "red2.png", (180, 30, 25), background=(230, 230, 235)),
                picture(tmp_path / "blue.png", (20, 30, 200)),
                str(tmp_path / "missing.png"),
            ]
        }
    )
    vectors, ok = red.encode_products(products)
    assert ok.tolist() == [True, True, True, False]  # a missing picture is counted, never fatal
    assert norms(vectors[:3]) == pytest.approx([1, 1, 1], abs=1e-5)
    assert vectors[0] @ vectors[1] > 0.9 > vectors[0] @ vectors[2]
    black = colour_histogram(np.zeros((8, 8, 3)) + np.array([0.02, 0.02, 0.02]))
    assert black.sum() == pytest.approx(1.0) and black[-4] == pytest.approx(1.0)  # the darkest grey bin


def test_tfidf_vectors_are_normalised_and_words_count():
    products = pl.DataFrame(
        {
            "title": ["red summer dress", "red summer dress long", "black leather boots", None],
            "color": ["Red", "Red", "Black", None],
            "department": ["Dresses", "Dresses", "Shoes", None],
        }
    )
    encoder = TfidfEncoder().fit(products)
    vectors, ok = encoder.encode_products(products)
    assert ok.tolist() == [True, True, True, True]  # the empty product still has its one-hot "missing" block
    assert norms(vectors) == pytest.approx([1, 1, 1, 1], abs=1e-5)
    sims = (vectors @ vectors.T).toarray()
    assert sims[0, 1] > 0.8 and sims[0, 2] < 0.1


def test_exact_index_finds_the_nearest_and_round_trips(tmp_path):
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = [0.9, 0.1, 0, 0]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ExactIndex().add(vectors)
    items, scores = index.search(vectors[[0]], 2)
    assert items[0].tolist() == [0, 1] and scores[0, 0] == pytest.approx(1.0)
    index.save(tmp_path / "i")
    np.testing.assert_array_equal(
        ExactIndex.load(tmp_path / "i").search(vectors, 3)[0], index.search(vectors, 3)[0]
    )
    with pytest.raises(InputError, match="no vectors"):
        ExactIndex.load(tmp_path / "nothing")


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(InputError, match="unknown encoder 'resnet'"):
        make_encoder("resnet")


@pytest.fixture(scope="module")
def shop(ingested) -> Dataset:
    return Dataset.load(ingested[0])


def test_drawn_pictures_neighbours_share_the_colour(shop, truth):
    model = SimilarStyles(ColourEncoder()).fit(shop)
    colours = shop.products["color"].to_numpy()
    queries = np.flatnonzero(model.encoded_)[:40]
    q = sp.csr_matrix(
        (np.ones(len(queries)), (np.arange(len(queries)), queries)), shape=(len(queries), shop.n_items)
    )
    items, _ = model.related(q, 5)
    same = [colours[i] == colours[n] for i, row in zip(queries, items, strict=True) for n in row if n >= 0]
    assert np.mean(same) > 0.9


def test_text_neighbours_share_the_department_and_variants_are_left_out(shop):
    model = SimilarStyles(TfidfEncoder()).fit(shop)
    departments = shop.products["department"].to_numpy()
    groups = shop.products["group_id"].to_numpy()
    queries = np.arange(0, shop.n_items, 3)
    q = sp.csr_matrix(
        (np.ones(len(queries)), (np.arange(len(queries)), queries)), shape=(len(queries), shop.n_items)
    )
    items, _ = model.related(q, 5)
    same = [
        departments[i] == departments[n] for i, row in zip(queries, items, strict=True) for n in row if n >= 0
    ]
    assert np.mean(same) > 0.8
    assert not any(
        groups[i] == groups[n] for i, row in zip(queries, items, strict=True) for n in row if n >= 0
    )
    with_variants = SimilarStyles(TfidfEncoder(), exclude_variants=False).fit(shop)
    items, _ = with_variants.related(q, 5)
    assert any(groups[i] == groups[n] for i, row in zip(queries, items, strict=True) for n in row if n >= 0)


def test_combined_labels_need_both_parts():
    from atelier.features.items import label_codes

    products = pl.DataFrame(
        {"department": ["Dresses", "Dresses", "Dresses", None], "color": ["Red", "Red", "Blue", "Red"]}
    )
    codes = label_codes(products, "department+color")
    assert codes[0] == codes[1] != codes[2] and codes[3] == -1


def test_minilm_text_encoder_places_paraphrases_together():
    from atelier.encoders import TextEncoder

    products = pl.DataFrame(
        {"title": ["black leather jacket", "dark leather biker jacket", "floral summer dress", ""]}
    )
    encoder = TextEncoder(text_fields=["title"]).fit(products)
    vectors, ok = encoder.encode_products(products)
    assert vectors.shape == (4, 384) and ok.tolist() == [True, True, True, False]
    assert norms(vectors[:3]) == pytest.approx([1, 1, 1], abs=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


@pytest.mark.parametrize("network", ["mobilenet_v2", "efficientnet_lite0"])
def test_cnn_neighbours_of_drawn_pictures_share_the_garment(shop, network):
    from atelier.encoders import ImageEncoder

    products = shop.products.filter(pl.col("image_path").is_not_null()).head(60)
    encoder = ImageEncoder(network).fit(products)
    vectors, ok = encoder.encode_products(products)
    assert ok.all() and norms(vectors) == pytest.approx(np.ones(len(vectors)), abs=1e-4)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    departments = products["department"].to_numpy()
    chance = np.mean([np.mean(departments == d) for d in departments])
    assert np.mean(departments[sims.argmax(axis=1)] == departments) > 2 * chance
    again, _ = ImageEncoder(network).fit(products).encode_products(products.head(4))
    np.testing.assert_allclose(again, vectors[:4], atol=1e-5)  # deterministic


def test_hybrid_cosine_is_the_weighted_sum_of_block_cosines(tmp_path):
    from atelier.encoders import HybridEncoder

    products = pl.DataFrame(
        {
            "title": ["red summer dress", "red summer dress", "black boots"],
            "color": ["Red", "Red", "Black"],
            "image_path": [
                picture(tmp_path / "a.png", (200, 20, 20)),
                picture(tmp_path / "b.png", (20, 20, 200)),
                picture(tmp_path / "c.png", (20, 20, 20)),
            ],
        }
    )
    for centre in (False, True):
        hybrid = HybridEncoder(
            {"tfidf": "tfidf", "colour": "colour"}, {"tfidf": 0.75, "colour": 0.25}, centre=centre
        ).fit(products)
        fused, ok = hybrid.encode_products(products)
        text = hybrid.encoders_["tfidf"].encode_products(products)[0].toarray()
        colour = hybrid.encoders_["colour"].encode_products(products)[0]
        if centre:  # each block centred on the catalogue's mean, then normalised
            text, colour = (v - v.mean(axis=0) for v in (text, colour))
            text, colour = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (text, colour))
        expected = 0.75 * float(text[0] @ text[1]) + 0.25 * float(colour[0] @ colour[1])
        assert ok.all() and float(fused[0] @ fused[1]) == pytest.approx(expected, abs=1e-5)
        assert hybrid.dimension == fused.shape[1]


def test_onnx_and_pytorch_embeddings_agree(shop, tmp_path):
    from atelier.encoders import ImageEncoder

    products = shop.products.filter(pl.col("image_path").is_not_null()).head(12)
    eager, _ = ImageEncoder("mobilenet_v2", runtime="torch").fit(products).encode_products(products)
    fast = ImageEncoder("mobilenet_v2", runtime="onnx", onnx_dir=str(tmp_path)).fit(products)
    onnx, ok = fast.encode_products(products)
    assert ok.all() and (tmp_path / "mobilenet_v2.onnx").is_file()
    assert (onnx * eager).sum(axis=1).min() >= 0.999


INDEXES = {"exact": ExactIndex, "hnsw": HnswIndex, "annoy": AnnoyIndex}


@pytest.mark.parametrize("index_class", sorted(INDEXES))
def test_index_backends_agree_with_exact_search(index_class, tmp_path):
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(3_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:100] + 0.05 * rng.normal(size=(100, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth, _ = ExactIndex().add(vectors).search(queries, 10)
    cls = INDEXES[index_class]
    index = cls().add(vectors)
    assert len(index) == len(vectors)
    found, scores = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95
    # similarities are cosines whatever the library's own distance
    np.testing.assert_allclose(scores[:, 0], (vectors[found[:, 0]] * queries).sum(1), atol=1e-4)
    again_built, _ = cls().add(vectors).search(queries, 10)
    np.testing.assert_array_equal(again_built, found)  # deterministic: the same vectors build the same index
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    index.save(tmp_path / "i")
    again, _ = cls.load(tmp_path / "i").search(queries, 10)
    np.testing.assert_array_equal(again, found)  # a saved index answers the same


@pytest.mark.parametrize("ann", ["hnsw", "annoy"])
def test_approximate_serving_matches_exact_and_keeps_the_filters(shop, ann, tmp_path):
    exact = SimilarStyles(TfidfEncoder(), index="exact").fit(shop)
    graph = SimilarStyles(TfidfEncoder(), index=ann).fit(shop)
    queries = np.arange(0, shop.n_items, 2)
    q = sp.csr_matrix(
        (np.ones(len(queries)), (np.arange(len(queries)), queries)), shape=(len(queries), shop.n_items)
    )
    exclude = sp.csr_matrix(
        (np.ones(len(queries)), (np.arange(len(queries)), (queries + 1) % shop.n_items)), shape=q.shape
    )
    a, _ = exact.related(q, 5, exclude)
    b, _ = graph.related(q, 5, exclude)
    overlap = np.mean([len(set(x) & set(y)) / 5 for x, y in zip(a, b, strict=True)])
    assert overlap >= 0.9
    groups = shop.products["group_id"].to_numpy()
    for i, row, banned in zip(queries, b, (queries + 1) % shop.n_items, strict=True):
        assert i not in row and banned not in row
        assert not any(groups[n] == groups[i] for n in row if n >= 0)
    wide, _ = graph.related(q[:2], shop.n_items + 5)  # more than the catalogue: exact ranking, full width
    assert wide.shape == (2, shop.n_items + 5) and (wide[:, -5:] == -1).all()
    with pytest.raises(InputError, match="item columns"):
        graph.related(sp.csr_matrix((1, shop.n_items + 1)), 5)
    loaded = SimilarStyles.load(graph.save(tmp_path / "m"))
    assert (tmp_path / "m" / "index").is_dir()  # the approximate index is saved, not rebuilt at start
    np.testing.assert_array_equal(loaded.related(q, 5, exclude)[0], b)


def test_pictures_come_from_files_or_addresses_and_failures_are_counted(tmp_path):
    from atelier.encoders.pictures import open_picture, picture_sources

    picture(tmp_path / "red.png", (200, 20, 20))
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    with picture_server(tmp_path) as (base, _):
        products = pl.DataFrame(
            {
                "image_path": [None, str(tmp_path / "red.png"), None, None, None],
                "image_urls": [[f"{base}/red.png"], [], [f"{base}/broken.png"], [f"{base}/gone.png"], None],
            }
        )
        sources = picture_sources(products)
        assert sources[:2] == [f"{base}/red.png", str(tmp_path / "red.png")]  # a local file wins
        vectors, ok = ColourEncoder().fit(products).encode_products(products)
        assert ok.tolist() == [True, True, False, False, False]
        assert vectors[0] @ vectors[1] == pytest.approx(1.0, abs=1e-5)  # same picture, by URL or by file
        assert open_picture("http://127.0.0.1:9/none.png", timeout=0.5) is None  # nothing listens: no error
        assert open_picture(f"{base}/red.png", timeout=1e-9) is None  # the deadline covers the whole download


def test_a_chain_of_slow_redirects_does_not_hold_a_download_past_its_deadline(tmp_path):
    from atelier.encoders.pictures import open_picture

    picture(tmp_path / "red.png", (200, 20, 20))
    with picture_server(tmp_path) as (base, requests):
        # two slow hops within the time: followed
        assert open_picture(f"{base}/hop/1", timeout=5.0) is not None
        requests.clear()
        # Each hop takes 0.3 s: the deadline of 1 s ends the chain, where every hop used to get 1 s afresh.
        assert open_picture(f"{base}/hop/6", timeout=1.0) is None
        assert sum(n for path, n in requests.items() if path.startswith("/hop/")) <= 4
        assert "/red.png" not in requests
        # A redirect's own body is not waited for (it came a byte every 0.1 s, 10 s in all).
        requests.clear()
        assert open_picture(f"{base}/trickle", timeout=1.0) is not None
        assert requests["/red.png"] == 1


class _Delivered:
    """An image encoder that only says which pictures reached it."""

    def encode_images(self, sources):
        return np.zeros((len(sources), 1)), np.array([s is not None for s in sources])


def test_a_picture_host_that_never_answers_is_given_up_and_one_that_answers_is_not(
    tmp_path, monkeypatch, caplog
):
    from atelier.encoders import pictures

    picture(tmp_path / "red.png", (200, 20, 20))
    give_up_quickly(monkeypatch)
    asked = count_downloads(monkeypatch)
    with picture_server(tmp_path) as (base, _):
        live, dead = base.split("//")[1], "127.0.0.1:9"  # nothing listens on 9: refused at once
        sources = [f"http://{dead}/p{i}.png" for i in range(8)] + [f"{base}/gone{i}.png" for i in range(8)]
        sources.append(f"{base}/red.png")
        _, ok = pictures.encode_pictures({"seen": _Delivered()}, sources)["seen"]
        assert asked[dead] == 3  # then its other five pictures were skipped
        assert asked[live] == 9  # eight missing pictures (404) are answers: the host is never given up
        assert ok.tolist() == [False] * 16 + [True]
        assert f"pictures from {dead}: 3 downloads in a row failed" in caplog.text

        # A server answering 503 (or a proxy answering 502 / 504 for it) has nobody to answer: a failure
        asked.clear()
        sources = [f"{base}/busy{i}.png" for i in range(5)] + [f"{base}/red.png"]
        _, ok = pictures.encode_pictures({"seen": _Delivered()}, sources)["seen"]
        assert asked[live] == 3 and not ok.any()

    hosts = pictures._Hosts(give_up_after=3, give_up_seconds=0.0)  # only failures in a row count
    for _ in range(2):
        hosts.failed("flaky", OSError("reset"))
    hosts.answered("flaky")
    hosts.failed("flaky", OSError("reset"))
    assert hosts.still_tried("flaky")
    # a blip of quick refusals is not enough
    patient = pictures._Hosts(give_up_after=3, give_up_seconds=3600.0)
    for _ in range(10):
        patient.failed("blip", OSError("refused"))
    assert patient.still_tried("blip")


def test_eight_downloads_at_once_give_a_dead_host_up_once(tmp_path, monkeypatch, caplog):
    from atelier.encoders import pictures

    give_up_quickly(monkeypatch, one_at_a_time=False)
    asked = count_downloads(monkeypatch)
    sources = [f"http://127.0.0.1:9/p{i}.png" for i in range(50)]
    _, ok = pictures.encode_pictures({"seen": _Delivered()}, sources)["seen"]
    assert not ok.any()
    assert 3 <= asked["127.0.0.1:9"] <= 3 + pictures.DOWNLOAD_WORKERS - 1  # those already on their way
    assert caplog.text.count("pictures from 127.0.0.1:9") == 1


def test_a_name_lookup_that_hangs_does_not_hold_a_download_past_its_deadline(tmp_path, monkeypatch):
    import socket
    import time

    from atelier.encoders.pictures import open_picture

    picture(tmp_path / "red.png", (200, 20, 20))
    monkeypatch.setenv("no_proxy", "*")
    release = threading.Event()
    lookup = socket.getaddrinfo

    def hanging(host, *args, **kwargs):  # a resolver that never answers for one name
        if host == "hangs.example":
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with picture_server(tmp_path) as (base, _):
            started = time.monotonic()
            assert open_picture("http://hangs.example/red.png", timeout=0.5) is None
            assert time.monotonic() - started < 20  # the resolver alone would hold it for 60 s
            assert open_picture(f"{base}/red.png") is not None  # other names are looked up as before
            started = time.monotonic()
            assert open_picture("http://a..b/red.png", timeout=10) is None  # a name no resolver can encode
            assert time.monotonic() - started < 5  # fails at once, not at the deadline
    finally:
        release.set()


def test_https_pictures_are_fetched_by_name_and_their_certificate_checked_against_it(tmp_path, monkeypatch):
    import shutil
    import socket
    import subprocess
    import urllib.error
    import urllib.request

    from atelier.encoders import pictures

    if shutil.which("openssl") is None:
        pytest.skip("openssl (Debian package openssl) is needed to make the test's certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pictures.test -addext subjectAltName=DNS:pictures.test"
    subprocess.run(
        ["openssl", *make.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    picture(tmp_path / "red.png", (200, 20, 20))
    monkeypatch.setenv("no_proxy", "*")
    looked_up_in: list[str] = []
    lookup = socket.getaddrinfo

    def resolver(host, *args, **kwargs):  # a name only this test knows, and where it is looked up
        if host == "pictures.test":
            looked_up_in.append(threading.current_thread().name)
            host = "127.0.0.1"
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with picture_server(tmp_path, tls) as (base, _):
        port = base.rsplit(":", 1)[1]
        # The handlers pictures.py downloads with, trusting the test's certificate
        trusting = ssl.create_default_context(cafile=str(cert))
        opener = urllib.request.build_opener(
            pictures._BoundedLookupHttp, pictures._BoundedLookupHttps(context=trusting)
        )
        with opener.open(f"https://pictures.test:{port}/red.png", timeout=10) as answer:
            assert answer.read() == (tmp_path / "red.png").read_bytes()
        assert looked_up_in == ["picture-lookup"]  # by the bounded lookup, then connected to the address
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            opener.open(f"https://127.0.0.1:{port}/red.png", timeout=10)  # not the certificate's name
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            pictures._download(f"https://pictures.test:{port}/red.png", 10)  # an issuer nobody trusts


def test_a_hybrid_downloads_each_picture_once_for_all_its_picture_blocks(tmp_path, monkeypatch):
    from atelier.encoders import HybridEncoder, pictures

    colours = [(200, 20, 20), (20, 160, 40), (30, 30, 200), (240, 200, 0)]
    names = [f"p{i}.png" for i in range(len(colours))]
    for name, rgb in zip(names, colours, strict=True):
        picture(tmp_path / name, rgb)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    monkeypatch.setattr(
        pictures, "DOWNLOAD_BATCH", 4
    )  # two batches: the four pictures, then the two bad ones
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    titles = ["red dress", "green shirt", "blue jeans", "yellow top", "black boots", "white socks"]
    files_seen = []

    class Counting(ColourEncoder):
        def encode_images(self, sources):
            files_seen.append(sum(1 for f in scratch.rglob("*") if f.is_file()))
            return super().encode_images(sources)

    def hybrid():
        parts = {"shape": "colour", "hue": {"name": "colour"}, "words": "tfidf"}
        return HybridEncoder(parts, {"shape": 0.4, "hue": 0.4, "words": 0.2})

    local = pl.DataFrame({"title": titles, "image_path": [str(tmp_path / n) for n in names] + [None, None]})
    expected, expected_ok = hybrid().fit_encode(local)
    with picture_server(tmp_path) as (base, requests):
        every = [*names, "broken.png", "gone.png"]
        remote = pl.DataFrame({"title": titles, "image_urls": [[f"{base}/{n}"] for n in every]})
        encoder = hybrid()
        encoder.encoders_["shape"] = Counting()  # a colour block that looks into the download folder
        vectors, ok = encoder.fit_encode(remote)
        assert dict(requests) == {f"/{n}": 1 for n in every}
        again, _ = encoder.encode_products(remote)
        assert dict(requests) == {f"/{n}": 2 for n in every}  # once more for the second call, not per block
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    np.testing.assert_allclose(again, expected, atol=1e-6)
    assert ok.tolist() == expected_ok.tolist() == [True] * 6  # the last two by their words
    assert files_seen == [4, 1, 4, 1]  # per batch: four downloads, then one (the folder was emptied between)
    assert not any(scratch.iterdir())  # and removed at the end


def test_an_encoder_asked_for_the_other_modality_says_what_it_reads():
    with pytest.raises(InputError, match="reads pictures"):
        ColourEncoder().fit(pl.DataFrame()).encode_texts(["red dress"])
    with pytest.raises(InputError, match="reads text"):
        TfidfEncoder().fit(pl.DataFrame({"title": ["red dress"]})).encode_images(["x.png"])


def test_tfidf_queries_land_in_the_product_space():
    products = pl.DataFrame({"title": ["red summer dress", "black boots"], "color": ["Red", "Black"]})
    encoder = TfidfEncoder().fit(products)
    vectors, _ = encoder.encode_products(products)
    query = encoder.encode_texts(["summer dress"])
    assert query.shape == (1, encoder.dimension) == (1, vectors.shape[1])
    scores = (query @ vectors.T).toarray()[0]
    assert scores[0] > 0.3 and scores[1] == 0  # shared words count; the one-hot block is only the product's


def test_hybrid_tuning_scores_each_weighting_as_the_served_model_would(shop):
    from atelier.config import load_settings, with_section
    from atelier.encoders import HybridEncoder
    from atelier.evaluate.metrics import hits_from_labels
    from atelier.evaluate.tune import tune_hybrid, weight_grid
    from atelier.features.items import label_codes

    assert weight_grid(["a", "b"], 0.5) == [{"a": 0.0, "b": 1.0}, {"a": 0.5, "b": 0.5}, {"a": 1.0, "b": 0.0}]
    with pytest.raises(InputError, match="must divide 1"):
        weight_grid(["a", "b"], 0.3)
    settings = load_settings()
    settings = with_section(
        settings, "evaluate", k=[5], similar_labels=["department", "color"], similar_queries=10**6
    )
    results = tune_hybrid(shop, settings, {"tfidf": TfidfEncoder(), "colour": ColourEncoder()}, step=0.5)
    assert len(results) == 3 and results[0].mean >= results[-1].mean
    half = next(r for r in results if r.weights == {"tfidf": 0.5, "colour": 0.5})
    # the same figure from the served model: every labelled product as a query, its top 5
    model = SimilarStyles(
        HybridEncoder({"tfidf": TfidfEncoder(), "colour": ColourEncoder()}, {"tfidf": 1, "colour": 1})
    )
    model.fit(shop)
    for label in ("department", "color"):
        codes = label_codes(shop.products, label)
        queries = np.flatnonzero(codes >= 0)
        q = sp.csr_matrix(
            (np.ones(len(queries)), (np.arange(len(queries)), queries)), shape=(len(queries), shop.n_items)
        )
        items, _ = model.related(q, 5)
        precision = hits_from_labels(items, codes, codes[queries]).sum() / (5 * len(queries))
        assert half.precision[label] == pytest.approx(precision, abs=0.01)
    # text alone knows departments, the colour histogram knows colours: each block wins its own label
    text_only = next(r for r in results if r.weights["tfidf"] == 1.0)
    colour_only = next(r for r in results if r.weights["colour"] == 1.0)
    assert text_only.precision["department"] > colour_only.precision["department"]
    assert colour_only.precision["color"] > text_only.precision["color"]
