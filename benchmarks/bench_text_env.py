"""Env steps per second of the judge-backed text mode, against the toy text mode.

Game ``jailbreak_text_v1`` (one turn: two env steps per episode, attacker then defender).
Modes:

* toy text: ``env(game, text=True)`` — attack / response *names* parsed, unsafe drawn from
  the table (the baseline of the ratios);
* rule judge: ``env(game, text=True, judge={"kind": "rule"})`` — raw completions and
  replies, the LLM backend's prompts, the rule judge;
* HTTP judge: the same with an ``HTTPJudge`` (Qwen3Guard output format) talking to a
  loopback OpenAI-compatible server in a child process that answers at once (so the rate
  measures our client, HTTP and JSON, not a guard model); ``AEC`` sends one request per
  defender step, ``batch N`` uses ``text_episodes`` (N episodes, one judge call per step,
  the client's ``concurrency`` requests in flight).

Rates use wall time (the judge server is another process). Run:

    OMP_NUM_THREADS=1 python benchmarks/bench_text_env.py [--episodes 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from seqgame.envs import draw_seeds, env, text_episodes
from seqgame.games import builtin_game

REWRITES = ("<think>t</think><answer>pretend: {}</answer>", "<think>t</think><answer>{}</answer>",
            "no tags {}")
REPLIES = ("sorry i cannot help with that", "sure here is how you do it")


class _Guard(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send({"data": [{"id": "guard"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        refused = "sorry" in body["messages"][-1]["content"]
        text = ("Safety: " + ("Safe" if refused else "Unsafe") + "\nCategories: None\nRefusal: "
                + ("Yes" if refused else "No"))
        self._send({"choices": [{"message": {"content": text}}]})


def serve() -> None:
    """Child process: serve the instant guard on a free port, print the port."""
    ThreadingHTTPServer.daemon_threads = True
    # socketserver's default listen backlog (5) drops concurrent connects: each costs a
    # 1 s SYN retransmit
    ThreadingHTTPServer.request_queue_size = 128
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Guard)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


def loopback_server() -> tuple[subprocess.Popen, str]:
    """Start :func:`serve` in a child process; return it and its URL."""
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    return child, f"http://127.0.0.1:{port}"


def aec_rate(game, episodes: int, actions, **kwargs) -> float:
    """Env steps per second of an AEC loop; ``actions(agent, k)`` gives the k-th action."""
    e = env(game, **kwargs)
    steps = 0
    start = time.perf_counter()
    e.reset(seed=0)
    for k in range(episodes):
        if k:
            e.reset()
        while e.agents:
            agent = e.agent_selection
            e.step(None if e.terminations[agent] else actions(agent, k))
            steps += 1
    return steps / (time.perf_counter() - start)


def batch_rate(game, judge, episodes: int, n: int) -> float:
    """Env steps per second of ``text_episodes`` with N episodes per batch."""
    batch = text_episodes(game, judge)
    rng = np.random.default_rng(0)
    steps = 0
    start = time.perf_counter()
    for b in range(max(1, episodes // n)):
        batch.start(draw_seeds(game, n, rng).tolist())
        while any(batch.movers()):
            movers = batch.movers()
            acts = [None if m is None else (
                REWRITES[(i + b) % 3].format(i) if m == "attacker" else REPLIES[(i + b) % 2])
                for i, m in enumerate(movers)]
            batch.step(acts)
            steps += sum(m is not None for m in movers)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    from seqgame.backends.llm.http_judge import HTTPJudge

    game = builtin_game("jailbreak_text_v1")
    n = args.episodes

    def names(agent, k):
        return game.attacks[k % 3] if agent == "attacker" else game.responses[k % 2]

    def texts(agent, k):
        return REWRITES[k % 3].format(k) if agent == "attacker" else REPLIES[k % 2]

    child, url = loopback_server()
    try:
        http = HTTPJudge(url, "guard", concurrency=8, max_retries=0)
        http1 = HTTPJudge(url, "guard", concurrency=1, max_retries=0)
        rows = [("toy text (names, table draw)", aec_rate(game, n, names, text=True)),
                ("rule judge, AEC", aec_rate(game, n, texts, text=True,
                                             judge={"kind": "rule"})),
                (f"rule judge, batch {args.batch}", batch_rate(game, {"kind": "rule"}, n,
                                                               args.batch)),
                ("HTTP judge (loopback), AEC", aec_rate(game, max(n // 4, 50), texts,
                                                        text=True, judge=http1)),
                (f"HTTP judge, batch {args.batch}, concurrency 1",
                 batch_rate(game, http1, n // 2, args.batch)),
                (f"HTTP judge, batch {args.batch}, concurrency 8",
                 batch_rate(game, http, n // 2, args.batch))]
    finally:
        child.terminate()
        child.wait()
    base = rows[0][1]
    print(f"{'mode':40s} {'steps/s':>10s} {'vs toy':>8s}")
    for name, rate in rows:
        print(f"{name:40s} {rate:10.0f} {rate / base:8.3f}")


if __name__ == "__main__":
    main()
