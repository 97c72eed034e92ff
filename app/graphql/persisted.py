"""Persisted queries, Apollo's protocol (version 1): a client sends a document's sha256 in
``extensions.persistedQuery.sha256Hash`` instead of, or with, its text.

Documents come from two places. The manifest (``COINS_PERSISTED_QUERIES_MANIFEST``, a JSON
object sha256 -> document) holds the queries the apps were built with; with
``COINS_PERSISTED_QUERIES_ONLY`` nothing else runs. Automatic persisted queries (APQ): an
unknown hash answers ``PERSISTED_QUERY_NOT_FOUND``, the client sends the text with the hash
again, and once the text matches the hash and passes the schema's checks it is stored, in a
bounded per-process LRU and, when Redis is configured, in Redis so that every worker knows
it: each document under its own key with a TTL, and at most ``redis_max_entries`` of them
(an index of hashes by time of registration; the oldest go first). A client can register
documents without end (a new alias or comment each time), so neither store may grow with
them. A hash names one text forever, so a copy kept per process is never stale.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from app.settings import HTTPSettings, SettingsError

log = structlog.get_logger(__name__)

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
INVALID = "PERSISTED_QUERY_INVALID"
NOT_REGISTERED = "PERSISTED_QUERY_NOT_REGISTERED"


# KEYS: the index (a sorted set of hashes by time of registration), the document's key.
# ARGV: the hash, the document, the TTL in seconds, the most documents kept, the key prefix.
# One script, so that concurrent workers never leave more than the bound, nor a document
# out of the index. (The keys it evicts are named by it, not in KEYS: no Redis Cluster.)
_REMEMBER = """
local ttl_s = tonumber(ARGV[3])
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ttl_s)
redis.call('ZADD', KEYS[1], now_us, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - ttl_s * 1000000)
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if excess > 0 then
  for _, sha256 in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess - 1)) do
    redis.call('DEL', ARGV[5] .. sha256)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
redis.call('EXPIRE', KEYS[1], ttl_s)
"""


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedQueryError(Exception):
    """A refusal the client can act on; ``message`` is what Apollo's links look for."""

    def __init__(self, code: str, message: str, status_code: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}


def load_manifest(path: str) -> dict[str, str]:
    """The manifest's documents by hash; a hash that is not its document's is refused."""
    if not path:
        return {}
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SettingsError(f"COINS_PERSISTED_QUERIES_MANIFEST cannot be read: {error}") from None
    if not isinstance(entries, dict):
        raise SettingsError("COINS_PERSISTED_QUERIES_MANIFEST must hold a JSON object")
    for key, document in entries.items():
        if not isinstance(document, str) or sha256_of(document) != key.lower():
            raise SettingsError(
                f"COINS_PERSISTED_QUERIES_MANIFEST: {key!r} is not the sha256 of its document"
            )
    return {key.lower(): document for key, document in entries.items()}


class _Recent:
    """A bounded LRU of documents by hash."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._documents: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
        return document

    def put(self, key: str, document: str) -> None:
        self._documents[key] = document
        self._documents.move_to_end(key)
        while len(self._documents) > self._max_entries:
            self._documents.popitem(last=False)

    def __len__(self) -> int:
        return len(self._documents)


class PersistedQueries:
    """Turns a request's ``query`` and ``extensions`` into the document to run."""

    def __init__(
        self,
        manifest: Mapping[str, str],
        *,
        only_registered: bool = False,
        max_entries: int = 1_000,
        redis_max_entries: int = 10_000,
        redis_url: str | None = None,
        redis_prefix: str = "coins",
        ttl_s: int = 24 * 3600,
    ) -> None:
        self.manifest = dict(manifest)
        self.only_registered = only_registered
        self.recent = _Recent(max_entries)
        self._redis_url = redis_url
        self._redis_prefix = redis_prefix
        self._ttl_s = ttl_s
        self._redis_max_entries = redis_max_entries
        self._redis: Any = None
        self._remember: Any = None

    @classmethod
    def from_settings(
        cls, http: HTTPSettings, redis_url: str | None, redis_prefix: str
    ) -> PersistedQueries:
        return cls(
            load_manifest(http.persisted_queries_manifest),
            only_registered=http.persisted_queries_only,
            max_entries=http.apq_max_entries,
            redis_max_entries=http.apq_redis_max_entries,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            ttl_s=http.apq_ttl_s,
        )

    def _key(self, sha256: str = "") -> str:
        return f"{self._redis_prefix}:apq:{sha256}"

    def _index(self) -> str:
        return f"{self._redis_prefix}:apq-index"

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(
                self._redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        return self._redis

    async def document(self, query: str | None, extensions: Mapping[str, Any]) -> str | None:
        """The text to run: ``query`` itself, or the one its persisted hash names."""
        persisted = extensions.get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(NOT_SUPPORTED, "PersistedQueryNotSupported", 400)
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or len(sha256) != 64:
            raise PersistedQueryError(
                INVALID, "extensions.persistedQuery.sha256Hash must be a sha256 in hex.", 400
            )
        sha256 = sha256.lower()
        if query is None:
            found = await self._find(sha256)
            if found is None:
                raise PersistedQueryError(NOT_FOUND, "PersistedQueryNotFound")
            return found
        if sha256_of(query) != sha256:
            raise PersistedQueryError(HASH_MISMATCH, "provided sha does not match query", 400)
        return query

    async def _find(self, sha256: str) -> str | None:
        found = self.manifest.get(sha256)
        if found is not None or self.only_registered:
            return found
        found = self.recent.get(sha256)
        if found is None and self._redis_url:
            try:
                stored = await self._client().get(self._key(sha256))
            except Exception as error:  # a miss: the client sends the text again
                log.warning("apq_store_unreachable", error=type(error).__name__)
                return None
            if stored is not None:
                found = stored.decode()
                self.recent.put(sha256, found)
        return found

    async def remember(self, sha256: str, document: str) -> None:
        """Keep a document that ran (it passed the checks), for the hash alone next time."""
        if self.only_registered or sha256 in self.manifest or self.recent.get(sha256):
            return
        self.recent.put(sha256, document)
        if self._redis_url:
            try:
                if self._remember is None:
                    self._remember = self._client().register_script(_REMEMBER)
                await self._remember(
                    keys=[self._index(), self._key(sha256)],
                    args=[sha256, document, self._ttl_s, self._redis_max_entries, self._key()],
                )
            except Exception as error:
                log.warning("apq_store_unreachable", error=type(error).__name__)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = self._remember = None
