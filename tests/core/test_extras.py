"""A missing optional package is named once, with the install command of its extra."""

import sys

import pytest

from core.errors import MissingDependency
from core.extras import EXTRAS, missing_packages, require


def test_a_complete_extra_passes():
    require("local", "the local model")  # the test environment installs every extra


@pytest.mark.parametrize("extra", ["local", "train"])
def test_each_missing_package_is_named_with_the_extra_to_install(extra, monkeypatch):
    for module, _ in EXTRAS[extra]:
        monkeypatch.setitem(sys.modules, module, None)  # import and find_spec both fail
    with pytest.raises(MissingDependency) as caught:
        require(extra, "finetune")
    message = str(caught.value)
    assert f"pip install -e '.[{extra}]'" in message and "are not installed" in message
    assert all(package in message for package in missing_packages(extra))
    assert caught.value.persistent


def test_the_local_extra_includes_accelerate(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    assert missing_packages("local") == ["accelerate"]


def test_every_package_a_command_checks_for_is_in_the_extra_that_the_message_names():
    import re
    import tomllib
    from pathlib import Path

    from core.extras import PIP_EXTRA

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    for group, packages in EXTRAS.items():
        listed = {re.split(r"[=<>\[ ]", spec)[0].lower().replace("_", "-")
                  for spec in extras[PIP_EXTRA[group]]}
        assert {package for _, package in packages} <= listed, group
