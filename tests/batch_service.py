"""The OpenAI Files and Batch endpoints, in memory, on a real socket (127.0.0.1).

Bodies are shaped like OpenAI's documented objects (file, batch, batch output/error lines,
chat.completion). ``answer`` makes the text of each request's reply: by default a verdict
citing the first evidence passage of the prompt (judges); tests of teachers give their own.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai_bodies import chat_completion

_EVIDENCE = re.compile(r"^\[(?P<id>[^\[\]\s]+#\d+)\]\n(?P<text>[^\n]{12,})", re.MULTILINE)


def verdict_answer(line: dict, action: str | None) -> str:
    """A verdict citing the prompt's first evidence passage ("bad_quote": an invented one)."""
    prompt = line["body"]["messages"][-1]["content"]
    if "could not be used as a verdict" in prompt:  # a repair round-trip
        prompt = line["body"]["messages"][1]["content"]
    match = _EVIDENCE.search(prompt)
    quote = match.group("text")[:60] if match else ""
    if action == "bad_quote":
        quote = "an invented sentence that appears in no passage at all"
    verdict = {"label": "supported", "category": "none", "severity": "none",
               "confidence": 0.9, "rationale": "the passage says so",
               "citations": [{"passage_id": match.group("id"), "quote": quote}] if match else []}
    return json.dumps(verdict)


class FakeBatchService:
    """The OpenAI Files and Batch endpoints, in memory, on a real socket."""

    def __init__(self, answer: Callable[[dict, str | None], str] = verdict_answer) -> None:
        self.answer = answer
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.inputs: dict[str, list[dict]] = {}
        self.script: dict[str, str] = {}  # custom_id -> "http_error" | "garbage" | "bad_quote"
        self.expire_next = False  # the next batch expires having answered half its requests
        self.release = threading.Event()  # batches stay in_progress until set
        self.release.set()
        self.creates = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the API ----------------------------------------------------------------------------

    def route(self, method: str, path: str, headers, body: bytes) -> tuple[int, bytes, str]:
        with self._lock:
            self.requests += 1
            if method == "POST" and path == "/v1/files":
                file_id = f"file-{len(self.files) + 1:04d}"
                self.files[file_id] = _multipart_file(headers["content-type"], body)
                return _json(200, {"id": file_id, "object": "file", "bytes": len(body),
                                   "created_at": 1753100000, "expires_at": None,
                                   "filename": "input.jsonl", "purpose": "batch",
                                   "status": "processed", "status_details": None})
            if method == "POST" and path == "/v1/batches":
                return _json(200, self._create(json.loads(body)))
            if method == "GET" and path == "/v1/batches":
                return _json(200, {"object": "list", "data": list(self.batches.values()),
                                   "first_id": None, "last_id": None, "has_more": False})
            if method == "GET" and path.startswith("/v1/batches/"):
                return _json(200, self._advance(path.rsplit("/", 1)[1]))
            match = re.fullmatch(r"/v1/files/([^/]+)/content", path)
            if method == "GET" and match:
                return 200, self.files[match.group(1)], "application/octet-stream"
            return _json(404, {"error": {"message": f"no route {method} {path}"}})

    def _create(self, body: dict) -> dict:
        self.creates += 1
        batch_id = f"batch_{self.creates:04d}"
        lines = [json.loads(x) for x in self.files[body["input_file_id"]].decode().splitlines()]
        self.inputs[batch_id] = lines
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": 1753100001, "in_progress_at": None, "expires_at": 1753186401,
            "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
            "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"), "expire": self.expire_next,
        }
        self.expire_next = False
        return self._public(batch_id)

    def _advance(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch.update(status="in_progress", in_progress_at=1753100100)
        elif batch["status"] == "in_progress" and self.release.is_set():
            self._finish(batch)
        return self._public(batch_id)

    def _finish(self, batch: dict) -> None:
        lines = self.inputs[batch["id"]]
        answered = lines[: len(lines) // 2] if batch["expire"] else lines
        out, err = [], []
        for line in answered:
            result = self._answer(line)
            (out if result["response"]["status_code"] == 200 else err).append(result)
        for line in lines[len(answered):]:
            err.append({"id": f"batch_req_{line['custom_id']}", "custom_id": line["custom_id"],
                        "response": None, "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the "
                                       "completion window expired."}})
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = f"file-{len(self.files) + 1:04d}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = file_id
        status = "expired" if batch["expire"] else "completed"
        batch.update(status=status, request_counts={"total": len(lines), "completed": len(out),
                                                    "failed": len(err)})
        batch["expired_at" if batch["expire"] else "completed_at"] = 1753101000

    def _answer(self, line: dict) -> dict:
        cid = line["custom_id"]
        action = self.script.get(cid)
        response = {"status_code": 200, "request_id": f"req_{cid}"}
        if action == "http_error":
            response.update(status_code=500, body={"error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error", "param": None, "code": None}})
            return {"id": f"batch_req_{cid}", "custom_id": cid, "response": response, "error": None}
        text = "I think it is fine!" if action == "garbage" else self.answer(line, action)
        response["body"] = chat_completion(text, 1000, 100, id=f"chatcmpl-{cid}")
        return {"id": f"batch_req_{cid}", "custom_id": cid, "response": response, "error": None}

    def _public(self, batch_id: str) -> dict:
        return {k: v for k, v in self.batches[batch_id].items() if k != "expire"}

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?", 1)[0]
                status, payload, kind = service.route(self.command, path, self.headers, body)
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler


def _json(status: int, body: dict) -> tuple[int, bytes, str]:
    return status, json.dumps(body).encode(), "application/json"


def _multipart_file(content_type: str, body: bytes) -> bytes:
    boundary = re.search(r"boundary=([^;]+)", content_type).group(1).strip('"').encode()
    part = next(p for p in body.split(b"--" + boundary) if b'name="file"' in p)
    return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
