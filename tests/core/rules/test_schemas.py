"""Rule definitions are validated with errors naming the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from eventeye.core.rules.base import fingerprint
from eventeye.core.rules.catalog import RuleConfigError, parse_configured
from eventeye.core.rules.schemas import Rule


def errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate({"name": "r", **data})
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


class TestKindFields:
    def test_consecutive_needs_a_count(self) -> None:
        assert "required for a 'consecutive' rule" in errors({"kind": "consecutive"})["count"]

    def test_rate_needs_count_and_window(self) -> None:
        found = errors({"kind": "rate"})
        assert set(found) == {"count", "window"}

    def test_absence_needs_silence_and_refuses_count(self) -> None:
        found = errors({"kind": "absence", "count": 3})
        assert "required" in found["silence"]
        assert "not used by a 'absence' rule" in found["count"]

    def test_windows_are_positive_and_bounded(self) -> None:
        assert "more than 0" in errors({"kind": "rate", "count": 1, "window": 0})["window"]
        assert "at most 7 days" in errors({"kind": "absence", "silence": 8 * 86400})["silence"]

    def test_durations_are_seconds_or_iso(self) -> None:
        assert Rule.model_validate({"name": "r", "kind": "absence", "silence": "PT5M"}).silence.total_seconds() == 300


class TestConditions:
    def test_unknown_operator_is_named(self) -> None:
        found = errors({"kind": "match", "when": [{"field": "a", "op": "like", "value": "x"}]})
        assert any(loc.startswith("when.0") for loc in found)

    def test_bad_regex_says_why(self) -> None:
        found = errors({"kind": "match", "when": [{"field": "a", "op": "regex", "pattern": "("}]})
        assert "not a valid regular expression" in found["when.0.regex.pattern"]

    def test_range_needs_a_bound_in_order(self) -> None:
        assert (
            "give min, max or both"
            in errors({"kind": "match", "when": [{"field": "a", "op": "range"}]})["when.0.range.max"]
        )
        found = errors({"kind": "match", "when": [{"field": "a", "op": "range", "min": 5, "max": 1}]})
        assert "below min" in found["when.0.range.max"]

    def test_unknown_fields_are_refused(self) -> None:
        assert "extra" in errors({"kind": "match", "colour": "red"})["colour"].lower()

    def test_name_pattern(self) -> None:
        with pytest.raises(ValidationError):
            Rule.model_validate({"name": "has space", "kind": "match"})


class TestFingerprint:
    def test_changes_with_what_is_computed_only(self) -> None:
        base = Rule.model_validate({"name": "r", "kind": "consecutive", "count": 5})
        assert fingerprint(base) == fingerprint(base.model_copy(update={"severity": "critical", "description": "x"}))
        assert fingerprint(base) != fingerprint(base.model_copy(update={"count": 6}))


class TestConfigured:
    def test_names_the_entry_and_field(self) -> None:
        good = {"name": "a", "kind": "match"}
        with pytest.raises(RuleConfigError, match=r"rules\[1\]: count: required for a 'rate' rule"):
            parse_configured([good, {"name": "b", "kind": "rate", "window": 60}])

    def test_refuses_duplicate_names(self) -> None:
        with pytest.raises(RuleConfigError, match="defined twice"):
            parse_configured([{"name": "a", "kind": "match"}, {"name": "a", "kind": "match"}])
