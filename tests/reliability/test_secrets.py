"""API keys from the environment never reach the database, logs, reports, output or errors.

Canary keys are set; audits run with an openai judge on the real llama.cpp server and a gemini
judge on an HTTP-layer stub of the Gemini API; reports are exported; both providers then
refuse the keys (OpenAI's 401 with the key masked as OpenAI masks it, Gemini's
API_KEY_INVALID), also under ``--debug``. Every file written, the database bytes, stdout and
stderr are searched for the canaries.
"""

from __future__ import annotations

import pytest
from secrets_scenario import secrets_scenario

pytestmark = pytest.mark.slow


def test_canary_keys_never_leak(tmp_path, llama_url):
    outcome = secrets_scenario(tmp_path, llama_url)
    assert outcome["gemini_keys_seen"] == [True], "the gemini stub never saw the canary key"
    errors = outcome["auth_errors"]
    assert any("OPENAI_API_KEY" in e for e in errors), errors  # the auth path really ran
    assert any("GEMINI_API_KEY" in e for e in errors), errors
    assert not outcome["leaks"], outcome["leaks"]
