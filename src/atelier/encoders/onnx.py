"""ONNX Runtime fast path for the CNN image encoders: export the embedding network once, cache it next to the
artefacts, and run it with onnxruntime (several times faster than eager PyTorch on these CPUs)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class _Embedding:
    """The network as a torch module mapping pictures to (N, 1280) features (what gets exported)."""

    @staticmethod
    def module(model, network: str):
        import torch
        from torch import nn

        class Embedding(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                features = (
                    self.model.features(x) if network == "mobilenet_v2" else self.model.extract_features(x)
                )
                return features.mean((2, 3))

        return Embedding().eval()


def export(model, network: str, path: Path) -> Path:
    """Write the embedding network of ``model`` to ``path`` (dynamic batch size), once."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, 3, 224, 224)
    partial = path.with_suffix(".partial")
    # The exporter is chatty (warnings, progress lines on stdout) about internals that do not concern the user,
    # and stdout may be carrying JSON.
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        _quiet("onnxscript", "onnx_ir", "torch.onnx"),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Embedding.module(model, network),
            (example,),
            str(partial),
            input_names=["pixel_values"],
            output_names=["features"],
            opset_version=18,
            dynamo=True,
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}},
            external_data=False,
        )
    partial.replace(path)  # a half-written file never passes for a model
    log.info("exported %s to %s", network, path)
    return path


@contextlib.contextmanager
def _quiet(*loggers: str):
    """Raise the named loggers to WARNING for the block (the optimiser logs every folded initializer)."""
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class OnnxRunner:
    """An onnxruntime session over an exported embedding network."""

    def __init__(self, path: Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(pixels, dtype=np.float32)})[0]
