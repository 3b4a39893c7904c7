"""A real local HTTP server speaking the OpenAI chat-completions protocol.

Tests start it in a thread and script it: answer normally, or return an HTTP
error for requests whose user prompt contains a given text (forever or n
times). It records every request (path, Authorization header, JSON body and
the status it answered) so that tests can assert what a provider really saw.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_TYPES = {429: "rate_limit_exceeded", 500: "server_error", 401: "invalid_api_key", 503: "overloaded"}


@dataclass
class FailureRule:
    prompt_contains: str
    status: int
    times: int | None  # None: every matching request fails


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1"):
        self._lock = threading.Lock()
        self._rules: list[FailureRule] = []
        self.requests: list[dict] = []
        self.delay_seconds = 0.0
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting ---------------------------------------------------------
    def fail(self, prompt_contains: str, status: int = 500, times: int | None = None) -> None:
        with self._lock:
            self._rules.append(FailureRule(prompt_contains, status, times))

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.delay_seconds = 0.0

    def user_prompts(self, status: int | None = None) -> list[str]:
        with self._lock:
            return [
                r["user_prompt"] for r in self.requests if status is None or r["status"] == status
            ]

    # --- protocol ----------------------------------------------------------
    def _answer(self, path: str, headers, body: dict) -> tuple[int, dict]:
        user_prompt = next(
            (m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), ""
        )
        with self._lock:
            status = self._scripted_status(user_prompt)
            self.requests.append(
                {
                    "path": path,
                    "authorization": headers.get("Authorization", ""),
                    "body": body,
                    "user_prompt": user_prompt,
                    "status": status,
                    "received_at": time.time(),
                }
            )
            index = len(self.requests)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if status != 200:
            return status, {
                "error": {"message": f"scripted failure {status}", "type": ERROR_TYPES.get(status, "error"), "code": None}
            }
        return 200, completion(index, body.get("model", ""), user_prompt)

    def _scripted_status(self, user_prompt: str) -> int:
        for rule in self._rules:
            if rule.prompt_contains in user_prompt and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                return rule.status
        return 200

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    return self._send(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                status, payload = fake._answer(self.path, self.headers, body)
                self._send(status, payload)

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def completion(index: int, model: str, user_prompt: str) -> dict:
    prompt_tokens = len(user_prompt.split()) + 20
    content = f"Findings for: {user_prompt[:80]}"
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-fake-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
