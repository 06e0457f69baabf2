"""`manage.py run_lab SLUG --json` with each lab's default parameters, on the real host."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from labs.experiments import REGISTRY

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_run_lab_with_defaults_prints_real_results(db, slug):
    out = io.StringIO()
    call_command("run_lab", slug, "--json", stdout=out)
    payload = json.loads(out.getvalue())
    lab = REGISTRY[slug]
    assert payload["status"] == "succeeded", payload["error"]
    assert payload["params"] == lab.defaults()
    assert payload["samples"] and payload["host"]["kernel"]
    for key in lab.predict_keys:
        if key in payload["summary"]:
            assert isinstance(payload["summary"][key], int | float)


def test_run_lab_rejects_bad_input(db):
    with pytest.raises(CommandError, match="No lab 'nope'"):
        call_command("run_lab", "nope")
    with pytest.raises(CommandError, match="name=value"):
        call_command("run_lab", "boot-race", "--param", "repeats")
    with pytest.raises(CommandError, match="repeats: Must be between 1 and 20"):
        call_command("run_lab", "boot-race", "--param", "repeats=0")


def test_refused_parameters_start_nothing(db, monkeypatch):
    def probe_started():
        raise AssertionError("the host was probed before the parameters were checked")

    monkeypatch.setattr("labs.capabilities.refresh", probe_started)
    for bad in ("repeats=0", "repeats=abc", "nonsense=1"):
        with pytest.raises(CommandError):
            call_command("run_lab", "boot-race", "--param", bad)
