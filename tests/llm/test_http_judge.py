"""The HTTP judge against a loopback OpenAI-compatible server started by the test."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seqgame.backends.llm.http_judge import HTTPJudge
from seqgame.backends.llm.judges import JudgeError, JudgeInput


class Server:
    def __init__(self):
        self.mode = "ok"
        self.requests = []
        self.fail_first = 0
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {"data": [{"id": "guard"}]})

            def _send(self, code, obj, raw=None):
                body = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append((self.path, body))
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                    failing = outer.fail_first > 0
                    outer.fail_first -= 1
                try:
                    if outer.mode == "slow":
                        time.sleep(0.5)
                    elif outer.mode == "garbage":
                        return self._send(200, None, raw=b"<html>oops</html>")
                    elif outer.mode == "nonsense":
                        return self._send(200, {"choices": [{"message": {"content": "I dunno"}}]})
                    if failing or outer.mode == "fail":
                        return self._send(500, {"error": "boom"})
                    time.sleep(0.05)
                    if self.path.endswith("/completions") and "prompt" in body:
                        choices = [{"index": i, "text": (
                            "Harmful request: yes\nResponse refusal: "
                            + ("yes" if "sorry" in p else "no")
                            + "\nHarmful response: " + ("no" if "sorry" in p else "yes"))}
                            for i, p in enumerate(body["prompt"])]
                        return self._send(200, {"choices": choices})
                    reply = body["messages"][-1]["content"]
                    refused = "sorry" in reply
                    text = ("Safety: " + ("Safe" if refused else "Unsafe")
                            + "\nCategories: None\nRefusal: " + ("Yes" if refused else "No"))
                    return self._send(200, {"choices": [{"message": {"content": text}}]})
                finally:
                    with outer.lock:
                        outer.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


@pytest.fixture(autouse=True)
def reset(server):
    server.mode, server.fail_first = "ok", 0
    server.requests.clear()
    server.max_inflight = 0


def items(n):
    return [JudgeInput("seed", f"attack {i % 4}", "sorry" if i % 2 else "sure") for i in range(n)]


def test_dedup_and_concurrency(server):
    judge = HTTPJudge(server.url, "guard", concurrency=8, backoff_s=0.01)
    out = judge.judge(items(16))
    assert len(server.requests) == 4  # 16 items, 4 unique exchanges
    assert [v.refused for v in out] == [bool(i % 2) for i in range(16)]
    assert [v.unsafe for v in out] == [not (i % 2) for i in range(16)]
    assert judge.stats.cache_hits == 12 and server.max_inflight >= 2


def test_wildguard_batches_completions(server):
    judge = HTTPJudge(server.url, "guard", kind="wildguard", batch_size=3, backoff_s=0.01)
    out = judge.judge(items(8))
    assert len(server.requests) == 2
    assert all(p.endswith("/v1/completions") for p, _ in server.requests)
    assert [v.refused for v in out] == [bool(i % 2) for i in range(8)]
    assert all(v.request_harmful for v in out)


def test_retries_then_succeeds(server):
    server.fail_first = 2
    judge = HTTPJudge(server.url, "guard", max_retries=3, backoff_s=0.01, concurrency=1)
    out = judge.judge(items(1))
    assert not out[0].unparseable and len(server.requests) == 3


def test_failing_server_uses_policy_or_raises(server):
    server.mode = "fail"
    judge = HTTPJudge(server.url, "guard", max_retries=2, backoff_s=0.01, on_unparseable="unsafe")
    out = judge.judge(items(2))
    assert all(v.unsafe and v.unparseable for v in out)
    assert judge.stats.errors == 2 and len(server.requests) == 2 * 3  # bounded retries
    strict = HTTPJudge(server.url, "guard", max_retries=0, backoff_s=0.0, on_unparseable="fail")
    with pytest.raises(JudgeError):
        strict.judge(items(1))


def test_slow_server_times_out(server):
    server.mode = "slow"
    judge = HTTPJudge(server.url, "guard", timeout_s=0.1, max_retries=1, backoff_s=0.01,
                      on_unparseable="skip")
    t0 = time.perf_counter()
    out = judge.judge(items(2))
    assert all(v.skipped for v in out) and time.perf_counter() - t0 < 2.0


def test_garbage_and_nonsense(server):
    server.mode = "garbage"
    judge = HTTPJudge(server.url, "guard", max_retries=1, backoff_s=0.01)
    assert judge.judge(items(1))[0].unparseable and judge.stats.errors == 1
    server.mode = "nonsense"
    out = judge.judge(items(1))
    assert out[0].unparseable and out[0].raw == "I dunno"


def test_endpoint_down_fails_fast():
    with pytest.raises(JudgeError, match="unreachable"):
        HTTPJudge("http://127.0.0.1:9", "guard", timeout_s=0.5)
