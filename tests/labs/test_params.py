import pytest

from labs.experiments import REGISTRY, get_lab
from labs.experiments.base import Param, ParamError
from labs.forms import lab_form


def test_param_clean_bounds_and_types():
    param = Param("repeats", "Repeats", 3, 1, 20)
    assert param.clean("5") == 5
    for bad, message in [("0", "between 1 and 20"), ("21", "between 1 and 20"),
                         ("abc", "whole number"), ("", "required"), (2.5, "whole number")]:  # fmt: skip
        with pytest.raises(ParamError, match=message):
            param.clean(bad)


def test_param_upper_bound_can_follow_the_host():
    ceiling = {"value": 256}
    param = Param("mem", "Memory", 128, 64, lambda: ceiling["value"], unit="MiB")
    assert param.clean(256) == 256
    ceiling["value"] = 200
    with pytest.raises(ParamError, match="between 64 and 200 MiB"):
        param.clean(256)


def test_every_lab_declares_what_its_page_needs():
    assert "boot-race" in REGISTRY
    for lab in REGISTRY.values():
        cleaned, errors = lab.validate({})
        assert errors == {} and cleaned == lab.defaults()
        assert lab.columns and lab.needs  # its lessons: the lessons' front matter
        assert lab.max_seconds(cleaned) > 0


def test_validate_reports_unknown_and_bad_values():
    lab = get_lab("boot-race")
    cleaned, errors = lab.validate({"repeats": "99", "colour": "red"})
    assert errors["repeats"].startswith("Must be between 1 and 20")
    assert errors["colour"] == "This lab has no such parameter."


def test_generated_form_shows_bounds_and_field_errors():
    lab = get_lab("boot-race")
    form = lab_form(lab, {"repeats": "0", "vm_memory_mib": "128"})
    assert not form.is_valid()
    assert "between 1 and 20" in form.errors["repeats"][0]
    html = str(lab_form(lab)["repeats"])
    assert 'min="1"' in html and 'max="20"' in html
