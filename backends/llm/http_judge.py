"""A guard served behind an OpenAI-compatible HTTP API (e.g. ``vllm serve``).

The MAGIC code makes ~1,500 sequential judge calls per step. Here a call to
:meth:`HTTPJudge.judge` deduplicates identical exchanges, sends the unique ones
concurrently (``concurrency`` threads, one ``/v1/chat/completions`` request each, or
batched ``/v1/completions`` requests of ``batch_size`` prompts for WildGuard). With
``request_labels`` the unique rewrites also get one prompt-only request each (MAGIC's
second guard call: the request label).

Faults. Every way a request can fail — refused or reset connections, a connection closed
mid-body (``IncompleteRead``), a garbage status line, an HTTP error status, a body that is
not JSON or is nested too deep to parse, a body of the wrong shape (missing fields, a
choice ``index`` that is not an integer in range, duplicated or missing choices) — takes the
same path: at most ``max_retries`` retries with exponential backoff (``backoff_s``,
doubling; a ``Retry-After: <seconds>`` header replaces the backoff), all the sleeps of one
request capped by ``retry_budget_s``; then the exchange is an *error*: counted in
:class:`~seqgame.backends.llm.judges.JudgeStats`, its reason logged to the ``seqgame.judge``
logger (and ``log_file`` when set), and the judge's policy applied (``skip`` by default:
zero advantage, so an outage rewards neither player; ``fail`` raises
:class:`~seqgame.backends.llm.judges.JudgeError`). Client errors other than 408/409/425/429
(e.g. 400: a prompt too long for the served model) are not retried. Learners abort a step
whose error rate exceeds ``max_error_rate``
(:meth:`~seqgame.backends.llm.judges.JudgeStats.end_step`).

Deadline. ``timeout_s`` bounds a whole attempt — connect, send, status line, headers and
body — not each socket read: the attempt gets a monotonic deadline, and before every read
the socket's timeout is set to the time left (a read past the deadline raises
``TimeoutError``), so a server dripping bytes cannot hold a request past it.

:meth:`HTTPJudge.probe` (called at construction unless ``check=False``) fails fast when the
endpoint is down — before training starts.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from seqgame.errors import InvalidConfigError

from .guards import (
    WILDGUARD_TEMPLATE,
    check_kind,
    guard_messages,
    labels_to_verdict,
    request_messages,
    with_request_labels,
)
from .judges import (
    DEFAULT_MAX_ERROR_RATE,
    JudgeError,
    JudgeInput,
    JudgeStats,
    UnparseablePolicy,
    Verdict,
    check_option_types,
    logger,
    resolve_error,
)

T = TypeVar("T")

#: Largest response body read (a guard's answer is a few hundred bytes).
MAX_BODY_BYTES = 16 * 2**20
#: Client errors worth retrying; every other 4xx is final (the same request fails again).
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")

# what the retry loop catches besides _Failure: transport and parse errors
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, ValueError, RecursionError)

_log_files: set[str] = set()
_log_lock = threading.Lock()


class _Failure(Exception):
    """A failed attempt: the server answered, but not with a usable response."""

    def __init__(self, reason: str, retryable: bool = True,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


# ---------------------------------------------------------------------- transport
class _DeadlineReader(io.RawIOBase):
    """Socket reads that each get only the time left before the request's deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's timeout_s deadline passed while reading")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buf)
        except TimeoutError:
            raise TimeoutError("the request's timeout_s deadline passed while reading") from None


class _DeadlineSocket:
    """A connected socket whose reads and writes are bounded by one deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def sendall(self, data: bytes) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's timeout_s deadline passed while sending")
        self._sock.settimeout(left)
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise TimeoutError("the request's timeout_s deadline passed while sending") from None

    def close(self) -> None:
        """Do nothing: the request closes the real socket once the body is read.

        ``http.client`` closes the connection as soon as the headers say the server will
        close it, before the body is read.
        """

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineMixin:
    """Connect within the time left, then wrap the socket in :class:`_DeadlineSocket`."""

    _deadline: float
    _raw: socket.socket | None = None
    timeout: float | None
    sock: Any

    def connect(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's timeout_s deadline passed before connecting")
        self.timeout = left
        try:
            super().connect()  # type: ignore[misc]
        except TimeoutError:
            raise TimeoutError("the request's timeout_s deadline passed while connecting"
                               ) from None
        self._raw = self.sock
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _HTTP(_DeadlineMixin, http.client.HTTPConnection):
    pass


class _HTTPS(_DeadlineMixin, http.client.HTTPSConnection):
    pass


def _retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (the HTTP-date form is ignored)."""
    m = _SECONDS.match(value or "")
    return float(m.group(1)) if m else None


def _reason(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, _Failure) else text


# ---------------------------------------------------------------------- response shapes
def _choices(out: Any) -> list[Any]:
    if not isinstance(out, dict):
        raise _Failure(f"the body is a JSON {type(out).__name__}, not an object")
    choices = out.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _Failure(f"the body has no 'choices' list (keys: {sorted(out)[:8]})")
    for c in choices:
        if not isinstance(c, dict):
            raise _Failure(f"a choice is a {type(c).__name__}, not an object")
    return choices


def _index(choice: dict[str, Any], n: int) -> int:
    idx = choice.get("index")
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < n:
        raise _Failure(f"choice index {idx!r} is not an integer in 0..{n - 1}")
    return idx


def chat_text(out: Any) -> str:
    """The reply text of a ``/v1/chat/completions`` body (raises on a bad shape)."""
    choices = _choices(out)
    first = choices[0]
    if "index" in first:
        _index(first, 1)
    message = first.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise _Failure("choices[0].message.content is not a string")
    return content


def completion_texts(out: Any, n: int) -> list[str]:
    """The ``n`` texts of a batched ``/v1/completions`` body, ordered by ``index``.

    Every choice needs an integer ``index`` in ``0..n-1`` (not a bool, not negative: a
    Python ``-1`` would silently label the last exchange), each index exactly once.
    """
    choices = _choices(out)
    if len(choices) != n:
        raise _Failure(f"{len(choices)} choices for {n} prompts")
    texts: list[str | None] = [None] * n
    for c in choices:
        i = _index(c, n)
        if texts[i] is not None:
            raise _Failure(f"choice index {i} appears twice")
        if not isinstance(c.get("text"), str):
            raise _Failure(f"choice {i} has no string 'text'")
        texts[i] = c["text"]
    return [t for t in texts if t is not None]


# ---------------------------------------------------------------------- the judge
@dataclass
class HTTPJudge:
    """Judge through an OpenAI-compatible server (see the module docstring for faults).

    Attributes:
        base_url: server root, e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended).
        model: the served model name.
        kind: guard output format: ``qwen3guard``, ``wildguard`` or ``llamaguard``.
        on_unparseable: policy for unparseable output and failed requests (``skip``).
        timeout_s: deadline of one attempt: connect, send and every read together.
        max_retries: retries after the first attempt (0..20).
        backoff_s: first backoff; doubles each retry.
        retry_budget_s: most seconds one request sleeps between its attempts, all retries
            together (a longer ``Retry-After`` is cut to what is left).
        max_error_rate: a learner aborts with :class:`JudgeError` when more than this
            fraction of a step's exchanges fail (0..1; 1 never aborts).
        concurrency: parallel requests.
        batch_size: prompts per ``/v1/completions`` request (WildGuard only).
        max_tokens: generation budget per request.
        api_key: sent as a bearer token when set (read from the config, never the env).
        check: probe ``/v1/models`` at construction.
        log_file: also append the ``seqgame.judge`` log (every failure's reason) here.
        request_labels: also send one prompt-only request per unique rewrite and return
            its label as ``request_harmful`` (``request_label_source: rewrite``).
    """

    base_url: str
    model: str
    kind: str = "qwen3guard"
    on_unparseable: UnparseablePolicy = UnparseablePolicy.SKIP
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_s: float = 0.5
    retry_budget_s: float = 60.0
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    concurrency: int = 16
    batch_size: int = 32
    max_tokens: int = 32
    api_key: str | None = None
    check: bool = True
    log_file: str | None = None
    request_labels: bool = False
    stats: JudgeStats = field(default_factory=JudgeStats)

    def __post_init__(self) -> None:
        check_option_types(type(self), {f.name: getattr(self, f.name) for f in fields(self)
                                        if f.name not in ("stats", "on_unparseable")})
        check_kind(self.kind)
        self.on_unparseable = UnparseablePolicy.parse(self.on_unparseable)
        url = urllib.parse.urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidConfigError(f"judge.base_url = {self.base_url!r}: use http(s)://host:port")
        try:
            url.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise InvalidConfigError(f"judge.base_url = {self.base_url!r}: bad port") from None
        if not self.timeout_s > 0:
            raise InvalidConfigError(f"judge.timeout_s = {self.timeout_s!r}: use > 0 seconds")
        for name in ("backoff_s", "retry_budget_s"):
            if not getattr(self, name) >= 0:
                raise InvalidConfigError(f"judge.{name} = {getattr(self, name)!r}: use >= 0")
        if not 0 <= self.max_error_rate <= 1:
            raise InvalidConfigError(
                f"judge.max_error_rate = {self.max_error_rate!r}: use a fraction in 0..1"
            )
        for name in ("concurrency", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"judge.{name} = {getattr(self, name)!r}: use >= 1")
        if not 0 <= self.max_retries <= 20:
            raise InvalidConfigError(f"judge.max_retries = {self.max_retries!r}: use 0..20")
        self.base_url = self.base_url.rstrip("/")
        self._url = urllib.parse.urlsplit(self.base_url)
        if self.log_file is not None:
            _attach_log_file(self.log_file)
        if self.check:
            self.probe()

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, path: str, body: bytes | None, timeout_s: float
                 ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One attempt: ``(status, headers, body)``, all of it within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        cls = _HTTPS if self._url.scheme == "https" else _HTTP
        conn = cls(self._url.hostname or "", self._url.port, timeout=timeout_s)
        conn._deadline = deadline
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request(method, f"{self._url.path}/v1/{path}", body=body, headers=headers)
            resp = conn.getresponse()
            if resp.length is not None and resp.length > MAX_BODY_BYTES:
                raise _Failure(f"a {resp.length}-byte body (the limit is {MAX_BODY_BYTES})")
            parts, size = [], 0
            while piece := resp.read(65536):
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    raise _Failure(f"a body over {MAX_BODY_BYTES} bytes")
                parts.append(piece)
            if resp.length:  # Content-Length not reached: the connection closed mid-body
                raise http.client.IncompleteRead(b"".join(parts), resp.length)
            return resp.status, resp.headers, b"".join(parts)
        finally:
            conn.close()
            if conn._raw is not None:
                conn._raw.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        status, headers, payload = self._request("POST", path, json.dumps(body).encode(),
                                                 self.timeout_s)
        if not 200 <= status < 300:
            retryable = status >= 500 or status in _RETRYABLE_4XX
            raise _Failure(f"HTTP {status}: {payload[:120]!r}", retryable=retryable,
                           retry_after=_retry_after(headers.get("Retry-After")))
        try:
            return json.loads(payload)
        except RecursionError:
            raise _Failure(f"a JSON body nested too deep to parse ({len(payload)} bytes)"
                           ) from None
        except ValueError:
            raise _Failure(f"not JSON: {payload[:80]!r}") from None

    def _with_retries(self, what: str, fn: Callable[[], T]) -> tuple[T | None, str, int]:
        """``(result, "", retries)``, or ``(None, reason, retries)`` once retries run out."""
        delay, budget = self.backoff_s, self.retry_budget_s
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return fn(), "", attempt - 1
            except (_Failure, *_TRANSPORT_ERRORS) as exc:
                reason = _reason(exc)
                final = not getattr(exc, "retryable", True)
                if final or attempt == attempts:
                    tried = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    return None, f"{what}: {reason} (after {tried})", attempt - 1
                after = getattr(exc, "retry_after", None)
                wait = min(delay if after is None else after, budget)
                logger.info("judge %s attempt %d/%d failed: %s; retrying in %.2f s",
                            what, attempt, attempts, reason, wait)
                time.sleep(wait)
                budget -= wait
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def probe(self) -> None:
        """Fail fast when the server is unreachable (one quick GET of ``/v1/models``)."""
        try:
            status, _, _ = self._request("GET", "models", None, min(self.timeout_s, 5.0))
        except (_Failure, *_TRANSPORT_ERRORS) as exc:
            raise JudgeError(
                f"judge endpoint {self.base_url} is unreachable ({_reason(exc)}); start the "
                "server (e.g. 'vllm serve <model>') or fix judge.base_url"
            ) from None
        if not 200 <= status < 300:
            raise JudgeError(
                f"judge endpoint {self.base_url} answered HTTP {status} to GET /v1/models: "
                "is it an OpenAI-compatible server? fix judge.base_url"
            )

    def _chat_one(self, item: JudgeInput) -> tuple[str | None, str, int]:
        return self._chat(guard_messages(self.kind, item))

    def _chat(self, messages: list[dict[str, str]]) -> tuple[str | None, str, int]:
        def call() -> str:
            return chat_text(self._post("chat/completions", {
                "model": self.model, "messages": messages,
                "max_tokens": self.max_tokens, "temperature": 0.0,
            }))

        return self._with_retries("chat/completions", call)

    def _completions_batch(self, items: list[JudgeInput]
                           ) -> tuple[list[str | None], str, int]:
        return self._completions([WILDGUARD_TEMPLATE.format(prompt=i.attack, response=i.response)
                                  for i in items])

    def _completions(self, prompts: list[str]) -> tuple[list[str | None], str, int]:
        def call() -> list[str]:
            return completion_texts(self._post("completions", {
                "model": self.model, "prompt": prompts,
                "max_tokens": self.max_tokens, "temperature": 0.0,
            }), len(prompts))

        texts, reason, retries = self._with_retries("completions", call)
        return (list(texts) if texts is not None else [None] * len(prompts)), reason, retries

    def _request_labels(self, rewrites: list[str], pool: ThreadPoolExecutor
                        ) -> dict[str, tuple[str | None, str]]:
        """Prompt-only outputs per unique rewrite: ``rewrite -> (text or None, reason)``."""
        found: dict[str, tuple[str | None, str]] = {}
        if self.kind == "wildguard":
            chunks = [rewrites[i : i + self.batch_size]
                      for i in range(0, len(rewrites), self.batch_size)]
            prompts = [[WILDGUARD_TEMPLATE.format(prompt=r, response="") for r in c]
                       for c in chunks]
            for chunk, (texts, reason, retries) in zip(
                    chunks, pool.map(self._completions, prompts), strict=True):
                found.update((r, (t, reason)) for r, t in zip(chunk, texts, strict=True))
                self.stats.retries += retries
        else:
            msgs = [request_messages(r) for r in rewrites]
            for r, (text, reason, retries) in zip(rewrites, pool.map(self._chat, msgs),
                                                  strict=True):
                found[r] = (text, reason)
                self.stats.retries += retries
        return found

    # ------------------------------------------------------------------ judging
    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item; unique exchanges are sent concurrently."""
        unique = list(dict.fromkeys(items))
        raw: dict[JudgeInput, tuple[str | None, str]] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            if self.kind == "wildguard":
                chunks = [unique[i : i + self.batch_size]
                          for i in range(0, len(unique), self.batch_size)]
                for chunk, (texts, reason, retries) in zip(
                        chunks, pool.map(self._completions_batch, chunks), strict=True):
                    raw.update((it, (t, reason)) for it, t in zip(chunk, texts, strict=True))
                    self.stats.retries += retries
            else:
                for it, (text, reason, retries) in zip(
                        unique, pool.map(self._chat_one, unique), strict=True):
                    raw[it] = (text, reason)
                    self.stats.retries += retries
            requests = (self._request_labels(list(dict.fromkeys(it.attack for it in unique)),
                                             pool) if self.request_labels else None)
        self.stats.cache_hits += len(items) - len(unique)
        out = []
        for item in items:
            text, reason = raw[item]
            if text is None:
                out.append(resolve_error(reason, self.on_unparseable, self.stats))
            else:
                out.append(labels_to_verdict(self.kind, text, item, self.on_unparseable,
                                             self.stats))
        if requests is None:
            return out
        return with_request_labels(self.kind, items, out, requests, self.on_unparseable,
                                   self.stats)


def _attach_log_file(path: str) -> None:
    """Append the ``seqgame.judge`` log (INFO and up) to ``path`` (once per path)."""
    resolved = str(Path(path).expanduser().resolve())
    with _log_lock:
        if resolved in _log_files:
            return
        Path(resolved).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(resolved, encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        _log_files.add(resolved)

