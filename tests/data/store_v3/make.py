"""Writes store.db: a database as Assay stored runs before the typed run record (schema 3,
commit 840cdd4), for the migration test (tests/core/test_run_records.py).

Run from the root of a checkout of that commit (paths are stored relative to it):
PYTHONPATH=. python tests/data/store_v3/make.py tests/data/store_v3
It holds: the example audited (6 records), a field-mapped dataset with a bad line audited
closed-book with --skip-invalid, a hybrid-retrieval run, one gate decision, an eval-audit run
and an eval run.
"""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from audit.panel import DEFAULT_PANEL
from audit.pipeline import SampleOptions, audit_sample
from core.datasets import load_dataset
from core.store import Store
from finetune.evaluate import Answer, audit_answers

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
db = out / "store.db"
store = Store(db)
EXAMPLE_DATASET = Path("examples/advising/dataset.jsonl")
EXAMPLE_SOURCES = Path("examples/advising/sources")
example_options = {"dataset": EXAMPLE_DATASET, "sources": EXAMPLE_SOURCES,
                   "sources_complete": True}
audit_sample(store, SampleOptions(n=6, **example_options))
example = load_dataset(EXAMPLE_DATASET).records
mapped = out / "mapped.jsonl"
lines = [json.dumps({"uid": r.id, "prompt": r.question, "response": r.answer}) for r in example[:8]]
mapped.write_text("\n".join(lines[:4] + ["{not json"] + lines[4:]) + "\n", encoding="utf-8")
audit_sample(store, SampleOptions(dataset=mapped, no_sources=True, n=5, question_field="prompt",
                                  answer_field="response", id_field="uid", skip_invalid=True))
audit_sample(store, SampleOptions(n=4, seed=1, hybrid=True, **example_options))
subprocess.run([sys.executable, "-m", "audit", "gate", "--db", str(db),
                store.list_runs("audit")[-1]["id"]], check=False)
prompts = example[:3]
answers = [Answer(text=r.answer, tokens=10, truncated=False) for r in prompts]
run_id, _ = audit_answers(store, prompts, answers, "base", list(DEFAULT_PANEL), EXAMPLE_SOURCES, 4)
inputs = {"version": "eval-v1", "model": "gemma", "base_config_sha256": "0" * 64, "adapter": "adapter",
          "adapter_sha256": "1" * 64, "run_name": "legacy", "trained_on": "2" * 64, "gate": {},
          "prompts": "prompts.jsonl", "prompts_sha256": "3" * 64,
          "template": {"source": "tokenizer", "sha256": "4" * 64}, "max_new_tokens": 64,
          "judges": [j.model_dump(mode="json") for j in DEFAULT_PANEL],
          "sources": str(EXAMPLE_SOURCES), "evidence_k": 4, "train": None,
          "audit_run_id": None, "confidence": 0.95, "seed": 0,
          "preference": {"provider": "local", "model": "gemma"}}
result = {"run_id": "eval-legacy00000", "created": "2026-11-30T00:00:00Z", "inputs": inputs,
          "n": 3, "factuality": {"audit_runs": {"base": run_id}}}
store.create_run("eval-legacy00000", "eval", "3" * 64, {"inputs": inputs, "result": result})
store.close()
con = sqlite3.connect(db, isolation_level=None)
con.execute("DELETE FROM model_calls")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.execute("VACUUM")
con.close()
