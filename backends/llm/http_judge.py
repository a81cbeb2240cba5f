"""A guard served behind an OpenAI-compatible HTTP API (e.g. ``vllm serve``).

The MAGIC code makes ~1,500 sequential judge calls per step. Here a call to
:meth:`HTTPJudge.judge` deduplicates identical exchanges, sends the unique ones
concurrently (``concurrency`` threads, one ``/v1/chat/completions`` request each, or
batched ``/v1/completions`` requests of ``batch_size`` prompts for WildGuard), with a
timeout per request and at most ``max_retries`` retries with exponential backoff on
connection errors, timeouts, HTTP errors and malformed JSON. An exchange still failing
after its retries is unparseable: the judge's :class:`UnparseablePolicy` applies and the
error is counted. :meth:`HTTPJudge.check` (called at construction unless ``check=False``)
fails fast when the endpoint is down — before training starts.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from seqgame.errors import InvalidConfigError

from .guards import WILDGUARD_TEMPLATE, check_kind, guard_messages, labels_to_verdict
from .judges import JudgeError, JudgeInput, JudgeStats, UnparseablePolicy, Verdict, resolve


class _Garbage(Exception):
    """The server answered, but not with an OpenAI-shaped JSON body."""


@dataclass
class HTTPJudge:
    """Judge through an OpenAI-compatible server.

    Attributes:
        base_url: server root, e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended).
        model: the served model name.
        kind: guard output format: ``qwen3guard``, ``wildguard`` or ``llamaguard``.
        on_unparseable: policy for unparseable output and exhausted retries.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt (bounded).
        backoff_s: first backoff; doubles each retry.
        concurrency: parallel requests.
        batch_size: prompts per ``/v1/completions`` request (WildGuard only).
        max_tokens: generation budget per request.
        api_key: sent as a bearer token when set (read from the config, never the env).
        check: probe ``/v1/models`` at construction.
    """

    base_url: str
    model: str
    kind: str = "qwen3guard"
    on_unparseable: UnparseablePolicy = UnparseablePolicy.UNSAFE
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_s: float = 0.5
    concurrency: int = 16
    batch_size: int = 32
    max_tokens: int = 32
    api_key: str | None = None
    check: bool = True
    stats: JudgeStats = field(default_factory=JudgeStats)

    def __post_init__(self) -> None:
        check_kind(self.kind)
        self.on_unparseable = UnparseablePolicy.parse(self.on_unparseable)
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidConfigError(f"judge base_url = {self.base_url!r}: use http(s)://host:port")
        for name in ("timeout_s", "backoff_s"):
            if not getattr(self, name) >= 0:
                raise InvalidConfigError(f"judge {name} = {getattr(self, name)!r}: use >= 0")
        for name in ("concurrency", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"judge {name} = {getattr(self, name)!r}: use >= 1")
        if not 0 <= self.max_retries <= 20:
            raise InvalidConfigError(f"judge max_retries = {self.max_retries!r}: use 0..20")
        self.base_url = self.base_url.rstrip("/")
        if self.check:
            self.probe()

    # ------------------------------------------------------------------ transport
    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            f"{self.base_url}/v1/{path}", data=json.dumps(body).encode(), headers=headers
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            payload = resp.read()
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise _Garbage(f"not JSON: {payload[:80]!r}") from exc

    def _with_retries(self, fn):  # type: ignore[no-untyped-def]
        delay = self.backoff_s
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except (urllib.error.URLError, TimeoutError, OSError, _Garbage, KeyError,
                    IndexError, TypeError) as exc:
                last = exc
                if attempt < self.max_retries:
                    time.sleep(delay)
                    delay *= 2
        raise JudgeError(f"judge request failed after {self.max_retries + 1} attempts: {last}")

    def probe(self) -> None:
        """Fail fast when the server is unreachable (one quick GET of ``/v1/models``)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/v1/models",
                                        timeout=min(self.timeout_s, 5.0)) as resp:
                resp.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise JudgeError(
                f"judge endpoint {self.base_url} is unreachable ({exc}); start the server "
                "(e.g. 'vllm serve <model>') or fix judge.base_url"
            ) from None

    def _chat_one(self, item: JudgeInput) -> str:
        def call() -> str:
            out = self._post("chat/completions", {
                "model": self.model, "messages": guard_messages(self.kind, item),
                "max_tokens": self.max_tokens, "temperature": 0.0,
            })
            content = out["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise _Garbage("content is not a string")
            return content

        return self._with_retries(call)

    def _completions_batch(self, items: list[JudgeInput]) -> list[str]:
        prompts = [WILDGUARD_TEMPLATE.format(prompt=i.attack, response=i.response) for i in items]

        def call() -> list[str]:
            out = self._post("completions", {
                "model": self.model, "prompt": prompts,
                "max_tokens": self.max_tokens, "temperature": 0.0,
            })
            texts = [""] * len(prompts)
            for choice in out["choices"]:
                texts[int(choice["index"])] = choice["text"]
            if len(out["choices"]) != len(prompts):
                raise _Garbage("wrong number of choices")
            return texts

        return self._with_retries(call)

    # ------------------------------------------------------------------ judging
    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item; unique exchanges are sent concurrently."""
        unique = list(dict.fromkeys(items))
        raw: dict[JudgeInput, str | None] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            if self.kind == "wildguard":
                chunks = [unique[i : i + self.batch_size]
                          for i in range(0, len(unique), self.batch_size)]
                for chunk, texts in zip(chunks, pool.map(self._safe_batch, chunks), strict=True):
                    raw.update(zip(chunk, texts, strict=True))
            else:
                raw.update(zip(unique, pool.map(self._safe_one, unique), strict=True))
        self.stats.cache_hits += len(items) - len(unique)
        out = []
        for item in items:
            text = raw[item]
            if text is None:
                self.stats.errors += 1
                out.append(resolve(None, self.on_unparseable, "<request failed>", self.stats))
            else:
                out.append(labels_to_verdict(self.kind, text, item, self.on_unparseable,
                                             self.stats))
        return out

    def _safe_one(self, item: JudgeInput) -> str | None:
        try:
            return self._chat_one(item)
        except JudgeError:
            return None

    def _safe_batch(self, items: list[JudgeInput]) -> list[str | None]:
        try:
            return list(self._completions_batch(items))
        except JudgeError:
            return [None] * len(items)
