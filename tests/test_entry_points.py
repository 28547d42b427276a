"""Every console script answers --help and --version; `--help` imports no torch/transformers."""

import subprocess
import sys

import pytest

from core import __version__

PROBE = (
    "import sys, runpy; sys.argv = ['{cmd}', '--help']\n"
    "try:\n    runpy.run_module('{cmd}', run_name='__main__')\nexcept SystemExit as e:\n"
    "    code = e.code\n"
    "print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))"
)


@pytest.mark.parametrize("command", ["audit", "generate", "finetune", "reports"])
def test_help_is_light_and_version_prints(command):
    done = subprocess.run([sys.executable, "-c", PROBE.format(cmd=command)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert done.stdout.strip().endswith("HEAVY []")
    version = subprocess.run([sys.executable, "-m", command, "--version"], capture_output=True,
                             text=True)
    assert version.returncode == 0 and __version__ in version.stdout


def test_errors_are_one_red_line_and_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "nope.jsonl"
    done = subprocess.run([sys.executable, "-m", "audit", "lint", str(missing)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "nope.jsonl" in done.stderr
    debug = subprocess.run([sys.executable, "-m", "audit", "lint", str(missing), "--debug"],
                           capture_output=True, text=True)
    assert "Traceback" in debug.stderr
