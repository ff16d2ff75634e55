"""A tiny OpenAI-compatible chat-completions server around the HF backend, for tests only.

    python tests/eval/servers/hf_openai_server.py --model DIR [--drop-first N] [--fail-first N --fail-status 503]

Binds 127.0.0.1 on a free port and prints `listening on http://127.0.0.1:PORT/v1` once ready.
Misbehaviour on purpose, to exercise the client's retries:
  --drop-first N   read the first N completion requests, then close the socket without answering
  --fail-first N   answer the first N with HTTP --fail-status
  --stall-first N  sleep --stall-seconds before answering the first N (client timeouts)
GET /stats reports how many completion requests arrived and how each was treated.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from metricsft.eval.backends.base import IMAGE_PLACEHOLDER, Request
from metricsft.eval.backends.hf import HFBackend


class State:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.backend = HFBackend(options.model, batch_size=1)
        self.generate_lock = threading.Lock()  # one generate at a time: the model is not thread-safe
        self.count_lock = threading.Lock()
        self.stats = {"received": 0, "dropped": 0, "failed": 0, "stalled": 0, "in_flight": 0, "max_in_flight": 0}
        self.image_dir = Path(tempfile.mkdtemp(prefix="hf-openai-server-"))

    def take_ticket(self) -> int:
        with self.count_lock:
            self.stats["received"] += 1
            return self.stats["received"]

    def count(self, key: str, step: int = 1) -> None:
        with self.count_lock:
            self.stats[key] += step
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])

    def to_request(self, body: dict) -> Request:
        """OpenAI messages back to a sharegpt Request (`<image>` placeholders + image files)."""
        messages, images = [], []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, list):
                pieces = []
                for part in content:
                    if part["type"] == "text":
                        pieces.append(part["text"])
                    else:
                        header, encoded = part["image_url"]["url"].split(",", 1)
                        suffix = "." + header.split("/")[1].split(";")[0]
                        path = self.image_dir / f"{uuid.uuid4().hex}{suffix}"
                        path.write_bytes(base64.b64decode(encoded))
                        images.append(str(path))
                        pieces.append(IMAGE_PLACEHOLDER)
                content = "".join(pieces)
            messages.append({"role": message["role"], "content": content})
        return Request(id=uuid.uuid4().hex, messages=messages, images=images, max_new_tokens=int(body.get("max_tokens") or 256))


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    options = state.options

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send_json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send_json(200, state.stats)
            elif self.path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [{"id": options.served_name, "object": "model"}]})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            ticket = state.take_ticket()
            state.count("in_flight")
            try:
                self._complete(ticket, body)
            finally:
                state.count("in_flight", -1)

        def _complete(self, ticket: int, body: dict) -> None:
            if ticket <= options.drop_first:
                state.count("dropped")
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # the client sees the connection die mid-request
                return
            if ticket <= options.drop_first + options.fail_first:
                state.count("failed")
                self._send_json(options.fail_status, {"error": {"message": "failing on purpose"}})
                return
            if ticket <= options.drop_first + options.fail_first + options.stall_first:
                state.count("stalled")
                time.sleep(options.stall_seconds)
            if body.get("model") != options.served_name:
                self._send_json(404, {"error": {"message": f"model {body.get('model')!r} does not exist"}})
                return
            request = state.to_request(body)
            with state.generate_lock:
                [(_, text)] = list(state.backend.generate([request]))
            self._send_json(200, {
                "id": f"chatcmpl-{request.id}", "object": "chat.completion", "created": int(time.time()),
                "model": options.served_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            })

    return Handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-name", default="test-model")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--drop-first", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--stall-first", type=int, default=0)
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    options = parser.parse_args(argv)
    state = State(options)
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(state))
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
