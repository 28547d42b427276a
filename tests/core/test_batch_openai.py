"""OpenAIBatch against the OpenAI Files + Batch API, replaced at the HTTP layer.

Bodies are shaped like the documented objects: the File object, the Batch object (status,
request_counts, output_file_id, error_file_id, errors) and the output/error JSONL lines
``{id, custom_id, response: {status_code, request_id, body}, error}``.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import openai_bodies
import pytest

from audit.judges.prompts import verdict_schema
from core.batch.jobs import COMPLETED, EXPIRED, FAILED, RUNNING, BatchItem
from core.batch.openai_batch import OpenAIBatch
from core.errors import AuthError
from core.providers.base import ChatRequest
from core.providers.openai import OpenAIProvider

KEY = "sk-test-batch-0123456789"
MODEL = "gpt-4.1-mini"
VERDICT = json.dumps({"label": "supported", "category": "none", "severity": "none",
                      "confidence": 0.9, "citations": [], "rationale": "ok"})


def file_object(file_id: str, purpose: str = "batch", filename: str = "input.jsonl") -> dict:
    return {"id": file_id, "object": "file", "bytes": 1834, "created_at": 1753100000,
            "expires_at": None, "filename": filename, "purpose": purpose, "status": "processed",
            "status_details": None}


def batch_object(status: str, *, output: str | None = None, error: str | None = None,
                 counts: tuple[int, int, int] = (0, 0, 0), errors: list | None = None,
                 tag: str = "t") -> dict:
    total, completed, failed = counts
    stamps = {"in_progress": "in_progress_at", "finalizing": "finalizing_at",
              "completed": "completed_at", "failed": "failed_at", "expired": "expired_at",
              "cancelling": "cancelling_at", "cancelled": "cancelled_at"}
    body = {
        "id": "batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2", "object": "batch",
        "endpoint": "/v1/chat/completions", "model": "gpt-4.1-mini-2025-04-14",
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": "file-8dHz2YqXk1", "completion_window": "24h", "status": status,
        "output_file_id": output, "error_file_id": error, "created_at": 1753100001,
        "in_progress_at": None, "expires_at": 1753186401, "finalizing_at": None,
        "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "usage": {"input_tokens": 0, "output_tokens": 0,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0},
        "metadata": {"assay_job": tag},
    }
    if status in stamps:
        body[stamps[status]] = 1753100900
    return body


def chat_completion(content: str, tokens: tuple[int, int] = (900, 60)) -> dict:
    return openai_bodies.chat_completion(content, *tokens, id="chatcmpl-C1x2y3z4")


def ok_line(custom_id: str, content: str = VERDICT) -> dict:
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"req_{custom_id}",
                         "body": chat_completion(content)},
            "error": None}


def http_error_line(custom_id: str) -> dict:
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id,
            "response": {"status_code": 400, "request_id": f"req_{custom_id}",
                         "body": {"error": {"message": "Invalid 'max_tokens': too large.",
                                            "type": "invalid_request_error",
                                            "param": "max_tokens", "code": None}}},
            "error": None}


def expired_line(custom_id: str) -> dict:
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": None,
            "error": {"code": "batch_expired",
                      "message": "This request could not be executed before the completion "
                                 "window expired."}}


def jsonl(lines: list[dict]) -> bytes:
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


class FakeBatchAPI:
    """Routes Files and Batches endpoints; ``files`` maps a file id to its content."""

    def __init__(self, batch: dict, files: dict[str, bytes] | None = None,
                 listing: list[dict] | None = None) -> None:
        self.batch = batch
        self.files = files or {}
        self.listing = listing or []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if method == "POST" and path == "/v1/files":
            return httpx.Response(200, json=file_object("file-8dHz2YqXk1"))
        if method == "POST" and path == "/v1/batches":
            return httpx.Response(200, json=self.batch)
        if method == "GET" and path == "/v1/batches":
            return httpx.Response(200, json={"object": "list", "data": self.listing,
                                             "first_id": None, "last_id": None,
                                             "has_more": False})
        if method == "GET" and path.startswith("/v1/batches/"):
            return httpx.Response(200, json=self.batch)
        match = re.fullmatch(r"/v1/files/([^/]+)/content", path)
        if method == "GET" and match and match.group(1) in self.files:
            return httpx.Response(200, content=self.files[match.group(1)],
                                  headers={"content-type": "application/octet-stream"})
        return httpx.Response(404, json={"error": {"message": f"no route {method} {path}",
                                                   "type": "invalid_request_error",
                                                   "param": None, "code": None}})

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def backend(fake: FakeBatchAPI) -> OpenAIBatch:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return OpenAIBatch(OpenAIProvider(MODEL, http_client=client))


def items(n: int = 2) -> list[BatchItem]:
    return [BatchItem(f"a1-rec{i}", ChatRequest(
        messages=[{"role": "system", "content": "You judge."},
                  {"role": "user", "content": f"Record {i}"}],
        json_schema=verdict_schema(), max_tokens=300, seed=0)) for i in range(n)]


def uploaded_jsonl(request: httpx.Request) -> list[dict]:
    boundary = re.search(r"boundary=([^;]+)", request.headers["content-type"]).group(1)
    parts = request.content.split(b"--" + boundary.encode())
    file_part = next(p for p in parts if b'name="file"' in p)
    body = file_part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    assert any(b'name="purpose"' in p and p.rstrip().endswith(b"batch") for p in parts)
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_submit_uploads_the_interactive_bodies_and_creates_a_24h_batch():
    fake = FakeBatchAPI(batch_object("validating", tag="job-hash"))
    job = asyncio.run(backend(fake).submit(items(), tag="job-hash"))

    assert (job.job_id, job.status, job.provider_status) == (
        "batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2", RUNNING, "validating")
    assert not job.terminal
    lines = uploaded_jsonl(fake.sent("POST", "/v1/files")[0])
    assert [line["custom_id"] for line in lines] == ["a1-rec0", "a1-rec1"]
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}
    interactive = OpenAIProvider(MODEL)._arguments(items()[0].request)
    assert lines[0]["body"] == interactive
    assert lines[0]["body"]["response_format"]["json_schema"]["strict"] is True
    create = json.loads(fake.sent("POST", "/v1/batches")[0].content)
    assert create == {"input_file_id": "file-8dHz2YqXk1", "endpoint": "/v1/chat/completions",
                      "completion_window": "24h", "metadata": {"assay_job": "job-hash"}}
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(("status", "normal"), [
    ("validating", RUNNING), ("in_progress", RUNNING), ("finalizing", RUNNING),
    ("completed", COMPLETED), ("expired", EXPIRED), ("failed", FAILED),
])
def test_poll_maps_every_documented_status(status, normal):
    fake = FakeBatchAPI(batch_object(status))
    job = asyncio.run(backend(fake).poll("batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2"))
    assert job.status == normal
    assert job.terminal == (normal != RUNNING)
    assert job.raw["status"] == status
    assert fake.requests[0].url.path == "/v1/batches/batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2"


def test_partly_failed_batch_reads_output_and_error_files():
    batch = batch_object("completed", output="file-out1", error="file-err1", counts=(3, 2, 1))
    fake = FakeBatchAPI(batch, files={
        "file-out1": jsonl([ok_line("a1-rec0"), ok_line("a1-rec2", "not json at all")]),
        "file-err1": jsonl([http_error_line("a1-rec1")]),
    })
    b = backend(fake)
    job = asyncio.run(b.poll("batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2"))
    results = {r.custom_id: r for r in asyncio.run(b.results(job, ["a1-rec0", "a1-rec1", "a1-rec2"]))}

    assert set(results) == {"a1-rec0", "a1-rec1", "a1-rec2"}
    assert results["a1-rec0"].completion.text == VERDICT
    assert (results["a1-rec0"].completion.tokens_in, results["a1-rec0"].completion.tokens_out) == (900, 60)
    assert results["a1-rec2"].completion.text == "not json at all"  # parsing is the judge's job
    assert results["a1-rec1"].completion is None
    assert "HTTP 400" in results["a1-rec1"].error and "max_tokens" in results["a1-rec1"].error


def test_expired_batch_keeps_finished_requests_and_reports_the_rest():
    batch = batch_object("expired", output="file-out2", error="file-err2", counts=(2, 1, 1))
    fake = FakeBatchAPI(batch, files={"file-out2": jsonl([ok_line("a1-rec0")]),
                                      "file-err2": jsonl([expired_line("a1-rec1")])})
    b = backend(fake)
    job = asyncio.run(b.poll("batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2"))
    assert job.status == EXPIRED and job.terminal
    results = {r.custom_id: r for r in asyncio.run(b.results(job, ["a1-rec0", "a1-rec1"]))}
    assert results["a1-rec0"].completion is not None
    assert results["a1-rec1"].error.startswith("batch_expired:")


def test_failed_validation_gives_every_item_the_batch_error():
    errors = [{"code": "invalid_json_line", "line": 1, "param": None,
               "message": "This line is not parseable as valid JSON."}]
    fake = FakeBatchAPI(batch_object("failed", errors=errors))
    b = backend(fake)
    job = asyncio.run(b.poll("batch_6880f1d2a8c48190b7a4a2c9f1e0d3b2"))
    results = asyncio.run(b.results(job, ["a1-rec0", "a1-rec1"]))
    assert [r.custom_id for r in results] == ["a1-rec0", "a1-rec1"]
    assert all("invalid_json_line" in r.error for r in results)


def test_find_submitted_matches_the_metadata_tag():
    fake = FakeBatchAPI(batch_object("validating"),
                        listing=[batch_object("in_progress", tag="other"),
                                 batch_object("in_progress", tag="mine")])
    b = backend(fake)
    assert asyncio.run(b.find_submitted("mine")).raw["metadata"] == {"assay_job": "mine"}
    assert asyncio.run(b.find_submitted("absent")) is None


def test_refused_key_maps_to_auth_error():
    class Refuse(FakeBatchAPI):
        def __call__(self, request):
            return httpx.Response(401, json={"error": {
                "message": "Incorrect API key provided: sk-test-***.", "type":
                "invalid_request_error", "param": None, "code": "invalid_api_key"}})

    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        asyncio.run(backend(Refuse(batch_object("validating"))).poll("batch_x"))
