"""The OpenAI-compatible client's N-sample requests, over a real socket to a small server written here.

The server answers like an OpenAI-compatible server that honours ``n`` and ``seed`` (as vLLM's does):
its choices come back in reverse index order, and each names its index and the seed it was asked for.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metricsft.eval.backends import BackendError, Request
from metricsft.eval.backends.base import SamplingSpec
from metricsft.eval.backends.openai_compat import OpenAIBackend


@pytest.fixture
def sampling_server():
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            n = body.get("n", 1) - (1 if "short" in body["messages"][-1]["content"] else 0)
            choices = [{"index": i, "message": {"role": "assistant", "content": f"sample {i} seed {body.get('seed')}"}}
                       for i in reversed(range(n))]
            payload = json.dumps({"choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    server.shutdown()
    server.server_close()


def test_samples_come_from_one_request_per_row_in_choice_order(sampling_server):
    url, bodies = sampling_server
    spec = SamplingSpec(n=3, temperature=0.7, top_p=0.9, seed=5)
    requests = [Request(f"q{i}", [{"role": "user", "content": f"question {i}"}], max_new_tokens=4) for i in range(2)]
    client = OpenAIBackend(url, model="m", concurrency=2, max_retries=0)
    got = dict(client.generate_samples(requests, spec))
    client.close()
    assert got == {r.id: [f"sample {i} seed {spec.row_seed(r.id)}" for i in range(3)] for r in requests}
    assert len(bodies) == 2
    for body in bodies:
        assert {k: body[k] for k in ("n", "temperature", "top_p", "max_tokens")} == {
            "n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 4}


def test_a_server_returning_fewer_samples_is_an_error_naming_the_row(sampling_server):
    url, _ = sampling_server
    client = OpenAIBackend(url, model="m", max_retries=0)
    with pytest.raises(BackendError, match=r"row 'r1': .* returned 2 choice\(s\), asked for 3"):
        dict(client.generate_samples([Request("r1", [{"role": "user", "content": "short"}])], SamplingSpec(n=3)))
    client.close()
