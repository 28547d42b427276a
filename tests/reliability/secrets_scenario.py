"""The secrets scenario: canary keys through audits, exports and auth errors."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from faultproxy import FaultProxy, FaultSchedule, GeminiStub
from scenarios import (
    COMPLETED,
    cli_env,
    example_records,
    find_canaries,
    generate_args,
    read_db,
    run_cli,
    sample_args,
    write_jsonl,
)

VERDICT = json.dumps({"label": "not_in_sources", "category": "other", "severity": "minor",
                      "confidence": 0.6, "citations": [], "rationale": "Not in the passages."})


def judges_file(path, openai_url: str, gemini_url: str):
    path.write_text(
        f'[[judge]]\nname = "llama"\nprovider = "openai"\nmodel = "gemma-3-270m"\n'
        f'[judge.params]\nbase_url = "{openai_url}"\ntimeout = 60\nfold_system = true\n'
        f'schema_format = "json_object"\nmax_tokens = 200\n\n'
        f'[[judge]]\nname = "gem"\nprovider = "gemini"\nmodel = "gemini-2.5-flash"\n'
        f'[judge.params]\nbase_url = "{gemini_url}"\n\n'
        f'[[judge]]\nname = "rules"\nprovider = "rules"\n', encoding="utf-8")
    return path


def secrets_scenario(tmp_path: Path, llama_url: str) -> dict:
    """Canary keys through audits, exports and auth errors; returns where they leaked."""
    canaries = ["sk-canary-" + secrets.token_hex(20), "AIzaCanary" + secrets.token_hex(16)]
    db = tmp_path / "work" / ".assay" / "assay.db"
    work = db.parent.parent
    work.mkdir(parents=True)
    env = cli_env(db, OPENAI_API_KEY=canaries[0], GEMINI_API_KEY=canaries[1])
    dataset = write_jsonl(work / "data.jsonl", example_records(2))
    outputs: dict[str, str] = {}

    def run(label: str, module: str, *args: str, expect_ok: bool = True) -> None:
        result = run_cli(module, *args, cwd=work, env=env)
        outputs[f"{label} stdout"], outputs[f"{label} stderr"] = result.stdout, result.stderr
        if expect_ok and result.returncode not in COMPLETED:
            raise RuntimeError(f"{label} failed: {result.stderr[-1000:]}")

    with FaultProxy(llama_url, FaultSchedule(rate=0.0)) as proxy, GeminiStub(VERDICT) as gemini:
        judges = judges_file(work / "judges.toml", proxy.base_url, gemini.base_url)
        run("audit", "audit", *sample_args(dataset, judges, 1))
        seen = sorted({key == canaries[1] for key in gemini.keys_seen})
    for fmt in ("json", "md", "html", "csv"):
        run(f"export {fmt}", "reports", "export", "--format", fmt, "--out", f"report.{fmt}")
    run("show", "reports", "show")

    refusing = FaultProxy(llama_url, FaultSchedule(auth=True))
    with refusing as proxy, GeminiStub(VERDICT, reject=True) as gemini:
        judges = judges_file(work / "judges-refused.toml", proxy.base_url, gemini.base_url)
        # Another record: the call cache is keyed on provider + model + request, not on the
        # server, so the first record's answers would be replayed without any call.
        fresh = write_jsonl(work / "data-refused.jsonl", example_records(3)[2:])
        run("audit refused", "audit", *sample_args(fresh, judges, 1))
        run("audit refused --debug", "audit", *sample_args(fresh, judges, 1), "--debug")
        run("generate refused", "generate",
            *generate_args(work / "gen.jsonl", proxy.base_url, 1), expect_ok=False)
        run("generate refused --debug", "generate",
            *generate_args(work / "gen.jsonl", proxy.base_url, 1), "--debug", expect_ok=False)
    errors = [json.loads(body).get("error") or "" for (body,) in
              read_db(db, "SELECT body FROM judgments WHERE status = 'failed'")]
    return {"leaks": find_canaries(canaries, [tmp_path], outputs), "auth_errors": errors,
            "gemini_keys_seen": seen, "outputs_searched": len(outputs),
            "files_searched": sum(1 for p in tmp_path.rglob("*") if p.is_file())}
