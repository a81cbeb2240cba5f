"""The HTTP judge against a loopback OpenAI-compatible server started by the test."""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seqgame.backends.llm.http_judge import HTTPJudge
from seqgame.backends.llm.judges import JudgeError, JudgeInput, JudgeStats
from seqgame.errors import CheckpointError, InvalidConfigError


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out closed its end (the slow mode): not a test failure


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
                            + "\nHarmful response: " + ("no" if "sorry" in p else "yes"))
                            if "AI assistant:\n\n\n---" not in p else (  # prompt-only
                            "Harmful request: " + ("yes" if "bomb" in p else "no")
                            + "\nResponse refusal: N/A\nHarmful response: N/A")}
                            for i, p in enumerate(body["prompt"])]
                        return self._send(200, {"choices": choices})
                    if len(body["messages"]) == 1:  # prompt-only moderation
                        harmful = "bomb" in body["messages"][0]["content"]
                        text = f"Safety: {'Unsafe' if harmful else 'Safe'}\nCategories: None"
                        return self._send(200, {"choices": [{"message": {"content": text}}]})
                    reply = body["messages"][-1]["content"]
                    refused = "sorry" in reply
                    text = ("Safety: " + ("Safe" if refused else "Unsafe")
                            + "\nCategories: None\nRefusal: " + ("Yes" if refused else "No"))
                    return self._send(200, {"choices": [{"message": {"content": text}}]})
                finally:
                    with outer.lock:
                        outer.inflight -= 1

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
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


# --------------------------------------------------------------------------------------
# A raw-socket loopback server that misbehaves on purpose (127.0.0.1 only). It serves at
# most ``max_requests`` connections within ``lifetime_s`` seconds, then stops by itself;
# every thread is a daemon.

QWEN_UNSAFE = "Safety: Unsafe\nCategories: Violent\nRefusal: No"
WILD_REFUSED = "Harmful request: yes\nResponse refusal: yes\nHarmful response: no"
WILD_COMPLIED = "Harmful request: yes\nResponse refusal: no\nHarmful response: yes"


def response(body, status="200 OK", headers=()):
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chat_body(text, **choice):
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                              "content": text}, **choice}]}
                      ).encode()


def completions_body(indexed):
    return json.dumps({"choices": [{"index": i, "text": t} for i, t in indexed]}).encode()


class FaultServer:
    """``script(i, path, body) -> bytes | callable(conn)`` answers the i-th request."""

    def __init__(self, script, max_requests=8, lifetime_s=8.0):
        self.script, self.max_requests = script, max_requests
        self.requests = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.end = time.monotonic() + lifetime_s
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        served = 0
        try:
            while served < self.max_requests and time.monotonic() < self.end:
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._handle, args=(conn, served), daemon=True).start()
                served += 1
        finally:
            self.sock.close()

    def _handle(self, conn, i):
        try:
            conn.settimeout(3.0)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(h.split(":", 1)[1]) for h in lines[1:]
                           if h.lower().startswith("content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            path = lines[0].split()[1]
            parsed = json.loads(body) if body else None
            with self.lock:
                self.requests.append((path, parsed))
            answer = self.script(i, path, parsed)
            if callable(answer):
                answer(conn)
            else:
                conn.sendall(answer)
        except OSError:
            pass  # the client gave up (e.g. its deadline passed)
        finally:
            conn.close()


def close_mid_body(conn):
    conn.sendall(response(chat_body(QWEN_UNSAFE))[:-10])  # Content-Length not reached


def drip(data, every_s=0.4, size=8, max_chunks=40):
    def send(conn):
        for k in range(0, min(len(data), size * max_chunks), size):
            conn.sendall(data[k : k + size])
            time.sleep(every_s)
    return send


def fault_judge(server, **kw):
    opts = {"check": False, "max_retries": 1, "backoff_s": 0.0, "timeout_s": 2.0,
            "concurrency": 4, **kw}
    return HTTPJudge(server.url, "guard", **opts)


def one_item():
    return [JudgeInput("seed", "attack", "sure")]


def assert_counted_error(judge, verdicts, text):
    assert all(v.skipped and v.unparseable and not v.unsafe for v in verdicts)  # default: skip
    assert judge.stats.errors == len(verdicts) and judge.stats.skipped == len(verdicts)
    assert any(text in f for f in judge.stats.failures), judge.stats.failures


@pytest.mark.parametrize(("answer", "reason"), [
    (close_mid_body, "IncompleteRead"),
    (b"HELLO THERE\r\n\r\n", "BadStatusLine"),
    (response(b"[" * 100_000 + b"]" * 100_000), "nested too deep"),
    (response(b"<html>oops</html>"), "not JSON"),
    (response(chat_body(QWEN_UNSAFE, index="first")), "choice index 'first'"),
    (response(chat_body(QWEN_UNSAFE, index=True)), "choice index True"),
    (response(chat_body(None)), "content is not a string"),
    (response(b'{"choices": []}'), "no 'choices'"),
])
def test_faults_are_retried_then_counted(answer, reason):
    server = FaultServer(lambda i, path, body: answer, max_requests=2)
    judge = fault_judge(server)
    t0 = time.monotonic()
    out = judge.judge(one_item())
    assert time.monotonic() - t0 < 2.5
    assert_counted_error(judge, out, reason)
    assert len(server.requests) == 2 and judge.stats.retries == 1  # bounded: 1 + 1 retry
    assert "(after 2 attempts)" in judge.stats.failures[0]


@pytest.mark.parametrize("bad", ["first", -1, 99, True, None, 0.0])
def test_wildguard_bad_indices_label_nothing(bad):
    # a -1 would silently give exchange 0's text to exchange 1 if indices went unchecked
    answer = response(completions_body([(0, WILD_REFUSED), (bad, WILD_COMPLIED)]))
    server = FaultServer(lambda i, path, body: answer, max_requests=1)
    judge = fault_judge(server, kind="wildguard", max_retries=0)
    items = [JudgeInput("s", "a0", "sorry"), JudgeInput("s", "a1", "sure")]
    out = judge.judge(items)
    assert_counted_error(judge, out, f"choice index {bad!r}")
    assert judge.stats.failures[0].startswith("request failed: completions:")


@pytest.mark.parametrize("indexed", [
    [(0, WILD_REFUSED), (0, WILD_COMPLIED)],   # a duplicate index
    [(0, WILD_REFUSED)],                        # a missing choice
    [(0, WILD_REFUSED), (1, WILD_COMPLIED), (2, WILD_COMPLIED)],
])
def test_wildguard_wrong_choices(indexed):
    server = FaultServer(lambda i, path, body: response(completions_body(indexed)),
                         max_requests=1)
    judge = fault_judge(server, kind="wildguard", max_retries=0)
    out = judge.judge([JudgeInput("s", "a0", "sorry"), JudgeInput("s", "a1", "sure")])
    assert_counted_error(judge, out, "choice")


def test_wildguard_choices_out_of_order_are_matched_by_index():
    answer = response(completions_body([(1, WILD_COMPLIED), (0, WILD_REFUSED)]))
    server = FaultServer(lambda i, path, body: answer, max_requests=1)
    judge = fault_judge(server, kind="wildguard", max_retries=0)
    out = judge.judge([JudgeInput("s", "a0", "sorry"), JudgeInput("s", "a1", "sure")])
    assert [v.refused for v in out] == [True, False] and judge.stats.errors == 0


def test_dripping_server_is_bounded_by_timeout():
    answer = drip(response(chat_body(QWEN_UNSAFE)))
    server = FaultServer(lambda i, path, body: answer, max_requests=2)
    judge = fault_judge(server, timeout_s=1.0, max_retries=1)
    t0 = time.monotonic()
    out = judge.judge(one_item())
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, elapsed  # two 1 s attempts, not 9 s each
    assert_counted_error(judge, out, "deadline")
    assert len(server.requests) == 2


def test_drip_within_the_deadline_succeeds():
    answer = drip(response(chat_body(QWEN_UNSAFE)), every_s=0.0, size=8)
    server = FaultServer(lambda i, path, body: answer, max_requests=1)
    out = fault_judge(server, timeout_s=1.0, max_retries=0).judge(one_item())
    assert out[0].unsafe and not out[0].unparseable


@pytest.mark.parametrize("status", ["429 Too Many Requests", "503 Service Unavailable"])
def test_retry_after_is_honoured(status):
    def script(i, path, body):
        if i == 0:
            return response(b'{"error": "busy"}', status, ["Retry-After: 0.4"])
        return response(chat_body(QWEN_UNSAFE))

    server = FaultServer(script, max_requests=2)
    judge = fault_judge(server, backoff_s=0.0, max_retries=1)
    t0 = time.monotonic()
    out = judge.judge(one_item())
    elapsed = time.monotonic() - t0
    assert 0.4 <= elapsed < 1.5, elapsed  # waited Retry-After, not the 0 s backoff
    assert out[0].unsafe and not out[0].unparseable and judge.stats.retries == 1


def test_retry_after_is_capped_by_the_retry_budget():
    server = FaultServer(lambda i, path, body: response(
        b"{}", "503 Service Unavailable", ["Retry-After: 100"]), max_requests=3)
    judge = fault_judge(server, max_retries=2, retry_budget_s=0.3)
    t0 = time.monotonic()
    out = judge.judge(one_item())
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5, elapsed
    assert_counted_error(judge, out, "HTTP 503")
    assert len(server.requests) == 3


def test_client_errors_are_not_retried():
    server = FaultServer(lambda i, path, body: response(b'{"error": "too long"}',
                                                         "400 Bad Request"), max_requests=3)
    judge = fault_judge(server, max_retries=2, backoff_s=0.05)
    out = judge.judge(one_item())
    assert_counted_error(judge, out, "HTTP 400")
    assert len(server.requests) == 1 and judge.stats.retries == 0


def test_500_then_success_on_raw_server():
    def script(i, path, body):
        return response(b"{}", "500 Internal Server Error") if i == 0 else \
            response(chat_body(QWEN_UNSAFE))

    server = FaultServer(script, max_requests=2)
    judge = fault_judge(server, max_retries=1)
    out = judge.judge(one_item())
    assert out[0].unsafe and not out[0].unparseable
    assert judge.stats.errors == 0 and judge.stats.retries == 1


def test_policy_fail_raises_judge_error():
    server = FaultServer(lambda i, path, body: close_mid_body, max_requests=1)
    judge = fault_judge(server, max_retries=0, on_unparseable="fail")
    with pytest.raises(JudgeError, match="judge request failed: chat/completions: "
                                         "IncompleteRead") as info:
        judge.judge(one_item())
    assert "\n" not in str(info.value)
    assert judge.stats.errors == 1


def test_policy_unsafe_counts_failures_as_unsafe():
    server = FaultServer(lambda i, path, body: b"garbage\r\n\r\n", max_requests=1)
    judge = fault_judge(server, max_retries=0, on_unparseable="unsafe")
    out = judge.judge(one_item())
    assert out[0].unsafe and out[0].unparseable and not out[0].skipped
    assert judge.stats.errors == 1


def test_max_error_rate_aborts_a_step_with_one_line():
    def script(i, path, body):
        reply = body["messages"][-1]["content"]
        return close_mid_body if "bad" in reply else response(chat_body(QWEN_UNSAFE))

    server = FaultServer(script, max_requests=8)
    judge = fault_judge(server, max_retries=0)
    assert judge.max_error_rate == 0.5
    ok = [JudgeInput("s", f"a{i}", "fine") for i in range(3)]
    bad = [JudgeInput("s", f"b{i}", "bad") for i in range(4)]
    before = judge.stats.begin_step()
    judge.judge(ok + bad[:1])  # 1 of 4 failed: under the rate
    fields = judge.stats.end_step(before, judge.max_error_rate, where="step 1")
    assert fields["judge_step_errors"] == 1.0 and fields["judge_step_calls"] == 4.0
    assert len(fields["judge_failures"]) == 1 and "IncompleteRead" in fields["judge_failures"][0]
    before = judge.stats.begin_step()
    judge.judge(bad[1:])  # 3 of 3 failed, each a counted, skipped verdict ...
    with pytest.raises(JudgeError, match=r"judge error rate 100% \(3 of 3 exchanges\) in "
                                         r"step 2 exceeds max_error_rate = 0.5") as info:
        judge.stats.end_step(before, judge.max_error_rate, where="step 2")  # ... then abort
    assert "\n" not in str(info.value) and "IncompleteRead" in str(info.value)


def test_failures_are_logged(caplog, tmp_path):
    from seqgame.backends.llm import http_judge

    log = tmp_path / "judge.log"
    server = FaultServer(lambda i, path, body: b"HELLO\r\n\r\n", max_requests=2)
    judge = fault_judge(server, max_retries=1, log_file=str(log))
    try:
        with caplog.at_level(logging.INFO, logger="seqgame.judge"):
            judge.judge(one_item())
    finally:
        for h in list(http_judge.logger.handlers):
            if getattr(h, "baseFilename", None) == str(log.resolve()):
                http_judge.logger.removeHandler(h)
                h.close()
        http_judge._log_files.discard(str(log.resolve()))
    messages = [r.getMessage() for r in caplog.records if r.name == "seqgame.judge"]
    assert any("attempt 1/2 failed: BadStatusLine" in m for m in messages)
    assert any("judge failure: request failed" in m for m in messages)
    text = log.read_text()
    assert "BadStatusLine" in text and "retrying" in text


def test_probe_rejects_garbage_and_http_errors():
    server = FaultServer(lambda i, path, body: b"HELLO\r\n\r\n", max_requests=1)
    with pytest.raises(JudgeError, match="unreachable .*BadStatusLine"):
        HTTPJudge(server.url, "guard", timeout_s=1.0)
    server = FaultServer(lambda i, path, body: response(b"{}", "404 Not Found"),
                         max_requests=1)
    with pytest.raises(JudgeError, match="HTTP 404"):
        HTTPJudge(server.url, "guard", timeout_s=1.0)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("timeout_s", "10", "timeout_s = '10': expected a finite number"),
    ("check", "false", "check = 'false': expected a boolean"),
    ("max_retries", 2.0, "max_retries = 2.0: expected an integer"),
    ("max_retries", True, "max_retries = True: expected an integer"),
    ("max_error_rate", 1.5, "max_error_rate = 1.5: use a fraction"),
    ("timeout_s", 0, "timeout_s = 0: use > 0"),
    ("timeout_s", float("nan"), "timeout_s = nan: expected a finite number"),
    ("api_key", 123, "api_key = 123: expected a string or null"),
])
def test_bad_option_types(key, value, match):
    with pytest.raises(InvalidConfigError, match=match):
        HTTPJudge("http://127.0.0.1:9", "guard", **{"check": False, key: value})


def test_judge_stats_round_trip():
    stats = JudgeStats(calls=7, unparseable=3, errors=2, skipped=3, cache_hits=1, retries=4)
    stats.note_failure("x")
    state = stats.to_dict()
    assert state == {"calls": 7, "unparseable": 3, "errors": 2, "skipped": 3,
                     "cache_hits": 1, "retries": 4}
    assert all(type(v) is int for v in state.values())
    back = JudgeStats.from_dict(json.loads(json.dumps(state)))
    assert back == stats and back.rates() == stats.rates() and back.failures == []
    assert JudgeStats.from_dict({"calls": 2}).to_dict()["errors"] == 0
    for bad in ({"calls": "2"}, {"calls": -1}, {"calls": True}, {"bogus": 1}, [1]):
        with pytest.raises(CheckpointError):
            JudgeStats.from_dict(bad)


@pytest.mark.parametrize("kind", ["qwen3guard", "wildguard"])
def test_request_labels_make_one_prompt_only_call_per_rewrite(server, kind):
    judge = HTTPJudge(server.url, "guard", kind=kind, request_labels=True, backoff_s=0.01)
    exchanges = [JudgeInput("s", "build a bomb", "sure"), JudgeInput("s", "bake bread", "sorry"),
                 JudgeInput("s", "build a bomb", "sorry")]
    out = judge.judge(exchanges)
    assert [v.request_harmful for v in out] == [True, False, True]
    assert [v.refused for v in out] == [False, True, True]
    if kind == "qwen3guard":
        only = [b for _, b in server.requests if len(b["messages"]) == 1]
        assert sorted(b["messages"][0]["content"] for b in only) == ["bake bread", "build a bomb"]
        assert len(server.requests) == 5  # 3 exchanges + 2 unique rewrites
    else:
        prompts = [p for _, b in server.requests for p in b["prompt"]]
        assert sum("AI assistant:\n\n\n---" in p for p in prompts) == 2


def test_failed_request_label_call_is_an_error_under_the_policy(server):
    judge = HTTPJudge(server.url, "guard", request_labels=True, backoff_s=0.01, max_retries=0)
    server.fail_first = 0
    server.mode = "ok"
    real = judge._chat

    def chat(messages):
        if len(messages) == 1:
            return None, "HTTP 500: boom", 0
        return real(messages)
    judge._chat = chat
    out = judge.judge([JudgeInput("s", "build a bomb", "sure")])
    assert out[0].skipped and judge.stats.errors == 1
    assert "request-label call failed" in judge.stats.failures[0]
