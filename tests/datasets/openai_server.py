"""A real local HTTP server speaking OpenAI's embeddings protocol, for tests.

It answers POST /v1/embeddings. The first `failures` requests get the given
error status (429 by default) as OpenAI sends it; later ones get deterministic
vectors of the requested dimensions. Every request body is recorded.
"""
import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fake_vector(text: str, dimensions: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    values = [((seed[i % len(seed)] + i * 7) % 251) / 251 - 0.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class FakeOpenAIServer:
    def __init__(self, failures: int = 2, failure_status: int = 429):
        self.failures = failures
        self.failure_status = failure_status
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    fail = server.failures > 0
                    if fail:
                        server.failures -= 1
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                if fail:
                    return self._send(
                        server.failure_status,
                        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
                        {"retry-after-ms": "10"},
                    )
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dimensions = body.get("dimensions", 1536)
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(text, dimensions)}
                    for i, text in enumerate(inputs)
                ]
                self._send(200, {
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                })

            def _send(self, status, payload, headers=None):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

        return Handler
