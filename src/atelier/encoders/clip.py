"""CLIP embeddings of the product picture and text in one shared space (FashionCLIP by default, 512-d).

The seeds' notebooks reached for FashionCLIP (``patrickjohncyh/fashion-clip``: CLIP fine-tuned on 700k fashion
products with their titles), and CLIP brings what the other encoders cannot: its text and image towers were
trained to agree, so a shopper's words ("red linen summer dress") are compared directly with product *pictures*
— cross-modal search — and a product with a poor title is still found through its photo. ``encode_texts`` runs
the text tower, ``encode_images`` the image tower; ``encode_products`` indexes the picture, the text, or by
default both (the normalised mean of the two unit vectors, or whichever exists).

``model`` is a hub id (read from the Hugging Face cache, or downloaded when the machine is online) or a local
folder written by ``save_pretrained`` (how a shop deploys offline). transformers is imported only when the
encoder is fitted; the network runs on the CPU in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from atelier.encoders.base import DEFAULT_TEXT_FIELDS, Encoder, l2_normalise, product_texts
from atelier.encoders.pictures import open_picture
from atelier.errors import InputError
from atelier.progress import progress

DEFAULT_MODEL = "patrickjohncyh/fashion-clip"
PRODUCT_VECTORS = ("image", "text", "both")


class ClipEncoder(Encoder):
    """CLIP text and image towers of ``model`` (hub id or local folder); products are indexed by
    ``product_vector``: "image", "text" or "both" (the normalised mean of the two)."""

    name = "clip"
    modality = "both"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        text_fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
        batch_size: int = 32,
        product_vector: str = "both",
    ):
        if product_vector not in PRODUCT_VECTORS:
            raise InputError(
                f"unknown CLIP product_vector {product_vector!r} (expected one of {', '.join(PRODUCT_VECTORS)})"
            )
        self.model = model
        self.text_fields = tuple(text_fields)
        self.batch_size = batch_size
        self.product_vector = product_vector

    def fit(self, products: pl.DataFrame) -> ClipEncoder:
        self.network_, self.processor_ = load_clip(self.model)
        config = self.network_.config
        # Longer texts are cut (CLIP reads at most 77 tokens); the end-of-text token is kept.
        self.max_tokens_ = min(
            int(self.processor_.tokenizer.model_max_length), int(config.text_config.max_position_embeddings)
        )
        self.fitted_ = True
        return self

    @property
    def dimension(self) -> int:
        self._check_fitted()
        return int(self.network_.config.projection_dim)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text-tower embeddings (a search box query lands beside the product pictures)."""
        self._check_fitted()
        import torch

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        rows = [i for i, text in enumerate(texts) if text and text.strip()]
        with progress() as bar, torch.inference_mode():
            task = bar.add_task("encode texts (clip)", total=len(texts))
            bar.advance(task, len(texts) - len(rows))
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start : start + self.batch_size]
                tokens = self.processor_.tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens_,
                    return_tensors="pt",
                )
                features = self.network_.get_text_features(
                    input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                )
                vectors[batch] = _embedding(features).float().numpy()
                bar.advance(task, len(batch))
        return l2_normalise(vectors)

    def encode_images(self, sources: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """(L2-normalised image-tower embeddings, mask of the pictures read); a bad picture is a zero row."""
        self._check_fitted()
        import torch

        vectors = np.zeros((len(sources), self.dimension), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        with progress() as bar, torch.inference_mode():
            task = bar.add_task("encode pictures (clip)", total=len(sources))
            for start in range(0, len(sources), self.batch_size):
                stop = min(start + self.batch_size, len(sources))
                good = [(i, x) for i in range(start, stop) if (x := self._pixels(sources[i])) is not None]
                if good:
                    rows = [i for i, _ in good]
                    features = self.network_.get_image_features(pixel_values=torch.cat([x for _, x in good]))
                    vectors[rows] = _embedding(features).float().numpy()
                    ok[rows] = True
                bar.advance(task, stop - start)
        return l2_normalise(vectors), ok

    def _pixels(self, source: str | None):
        """The picture as the image tower expects it (1 x 3 x H x W), or None when it cannot be read."""
        picture = open_picture(source)
        if picture is None:
            return None
        try:
            return self.processor_.image_processor(images=[picture], return_tensors="pt")["pixel_values"]
        except (ValueError, OSError, MemoryError):  # a degenerate picture (e.g. one pixel high)
            return None

    @property
    def reads_pictures(self) -> bool:
        return self.product_vector != "text"

    def product_vectors(
        self, products: pl.DataFrame, pictures: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Picture and/or text vectors by ``product_vector``; with "both", the normalised mean of those a
        product has (the towers share one space, so the mean sits between its picture and its words)."""
        self._check_fitted()
        assert (pictures is None) == (self.product_vector == "text"), "pictures are given when they are read"
        if pictures is not None and self.product_vector == "image":
            return pictures
        texts = product_texts(products, self.text_fields)
        text_vectors = self.encode_texts(texts)
        has_text = np.array([bool(t.strip()) for t in texts], dtype=bool)
        if pictures is None:
            return text_vectors, has_text
        image_vectors, has_picture = pictures
        return l2_normalise(text_vectors + image_vectors), has_text | has_picture


def _embedding(features):
    """The projected embedding: transformers 5 returns a BaseModelOutputWithPooling (the projection in
    ``pooler_output``) where transformers 4 returned the tensor itself."""
    import torch

    return features if isinstance(features, torch.Tensor) else features.pooler_output


def _looks_local(model: str) -> bool:
    """A path rather than a hub id ("namespace/name")."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def load_clip(model: str):
    """(CLIPModel in eval mode on the CPU, its processor) from a local folder or a hub id."""
    folder = Path(model).expanduser()
    if _looks_local(model) and not folder.is_dir():
        raise InputError(
            f"cannot load CLIP model {model!r}: no such folder "
            "(expected a local folder written by save_pretrained, or a hub id with network access)"
        )
    import torch
    from transformers import CLIPModel, CLIPProcessor

    source = str(folder) if folder.is_dir() else model
    try:
        network = CLIPModel.from_pretrained(source, dtype=torch.float32)  # CPU
        processor = CLIPProcessor.from_pretrained(source)
    except (
        Exception
    ) as exc:  # offline, missing or corrupt files, not a CLIP checkpoint: one line, no traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load CLIP model {model!r}: {reason} (expected a local folder written by save_pretrained, "
            "or a hub id with network access or in the Hugging Face cache)"
        ) from None
    return network.eval(), processor
