"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 that serves the HF backend.

The server misbehaves on purpose (drops a connection, answers 503, stalls past the client
timeout) so that the retries are exercised for real, over real sockets.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from metricsft.eval.backends import BackendError, Request
from metricsft.eval.backends.hf import HFBackend
from metricsft.eval.backends.openai_compat import OpenAIBackend
from tests.assets.build_assets import asset_path
from tests.eval.servers.launch import running_server
from tests.eval.servers.models import build_tiny_text_model

SERVER = Path(__file__).parent / "servers" / "hf_openai_server.py"


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory) -> Path:
    return build_tiny_text_model(asset_path("qwen2"), tmp_path_factory.mktemp("tiny_qwen2"))


def questions(n: int) -> list[Request]:
    return [
        Request(f"q{i}", [{"role": "user", "content": f"What is {i} times {i + 3}?"}], max_new_tokens=4 + i % 3)
        for i in range(n)
    ]


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return json.loads(response.read())


def test_answers_match_hf_and_drop_503_timeout_are_retried(tiny_text_model):
    requests = questions(3)
    expected = dict(HFBackend(str(tiny_text_model), batch_size=1).generate(requests))
    command = [sys.executable, str(SERVER), "--model", str(tiny_text_model),
               "--drop-first", "1", "--fail-first", "1", "--stall-first", "1", "--stall-seconds", "4"]
    with running_server(command) as url:
        # concurrency 1: the first row meets all three faults in turn, then gets its answer.
        client = OpenAIBackend(url, model="test-model", concurrency=1, max_retries=4, timeout=2.0, backoff=0.05)
        answers = list(client.generate(requests))
        stats = server_stats(url)
        client.close()
    assert sorted(row_id for row_id, _ in answers) == ["q0", "q1", "q2"]  # each row exactly once
    assert dict(answers) == expected
    assert (stats["dropped"], stats["failed"], stats["stalled"]) == (1, 1, 1)
    assert stats["received"] == 3 + 3  # three faulty attempts + one good attempt per row
    assert client.retries_done == 3


def test_client_errors_are_not_retried_and_concurrency_is_bounded(tiny_text_model):
    with running_server([sys.executable, str(SERVER), "--model", str(tiny_text_model)]) as url:
        wrong_model = OpenAIBackend(url, model="no-such-model", max_retries=3, backoff=0.05)
        with pytest.raises(BackendError, match=r"row 'q0'.*HTTP 404 \(not retried\)"):
            list(wrong_model.generate(questions(1)))
        assert server_stats(url)["received"] == 1

        client = OpenAIBackend(url, model="test-model", concurrency=2, backoff=0.05)
        answers = dict(client.generate(questions(6)))
        stats = server_stats(url)
    assert sorted(answers) == [f"q{i}" for i in range(6)]
    assert stats["max_in_flight"] == 2


def test_unreachable_server_fails_after_retries_naming_the_row():
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAIBackend(f"http://127.0.0.1:{port}/v1", model="m", max_retries=2, backoff=0.01, timeout=2.0)
    with pytest.raises(BackendError, match=r"row 'q0': no answer from .* after 3 attempts \(last error: ConnectError"):
        list(client.generate(questions(1)))
    assert client.retries_done == 2


def test_images_travel_as_data_urls_in_order(tmp_path):
    from PIL import Image

    for name, colour in (("a.png", "red"), ("b.jpg", "blue")):
        Image.new("RGB", (4, 3), colour).save(tmp_path / name)
    request = Request("r", [{"role": "user", "content": "<image>left <image>right"}],
                      images=[str(tmp_path / "a.png"), str(tmp_path / "b.jpg")])
    body = OpenAIBackend("http://127.0.0.1:1/v1", model="m").payload(request)
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text", "image_url", "text"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[2]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert (parts[1]["text"], parts[3]["text"]) == ("left ", "right")
    assert body["temperature"] == 0.0 and body["max_tokens"] == 256


def test_placeholder_image_mismatch_names_the_row():
    request = Request("row-7", [{"role": "user", "content": "no placeholder"}], images=["x.png"])
    with pytest.raises(ValueError, match=r"row 'row-7': 0 '<image>' placeholder\(s\) .* 1 image"):
        OpenAIBackend("http://127.0.0.1:1/v1", model="m").payload(request)
