"""A tiny random CLIP written to a folder with the files a hub CLIP checkpoint (FashionCLIP) holds, so the clip
encoder loads it by the same code path as the real model, with no download."""

from __future__ import annotations

import json
from pathlib import Path

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGE_SIZE = 32
MAX_TOKENS = 24
PROJECTION_DIM = 16


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2 / CLIP's bytes_to_unicode)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols, extra = [], 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A random CLIP (2 layers, width 32, 16-d projection, 32 x 32 pictures) in hub layout: config.json and
    model.safetensors, vocab.json + merges.txt + tokenizer_config.json + special_tokens_map.json, and the
    legacy preprocessor_config.json of the openai / FashionCLIP checkpoints."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    folder.mkdir(parents=True, exist_ok=True)
    # Every byte, alone and as the end of a word (no merges: words are spelled letter by letter), then the
    # special tokens last, as in CLIP's own vocabulary (the end-of-text token has the highest id).
    symbols = _byte_symbols()
    vocab = {token: i for i, token in enumerate([*symbols, *(s + "</w>" for s in symbols)])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tiny = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **tiny,
            "vocab_size": len(vocab),
            "max_position_embeddings": MAX_TOKENS,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={**tiny, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=PROJECTION_DIM,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        CLIPModel(config).save_pretrained(folder)
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS, **special})
    )
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": IMAGE_SIZE,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor",
                "image_mean": CLIP_MEAN,
                "image_std": CLIP_STD,
                "resample": 3,
                "size": IMAGE_SIZE,
            }
        )
    )
    return folder
