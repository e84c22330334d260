"""Conditions on attributes: paths, each operator, case, negation, and the keys of sequences."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from eventeye.core.rules.base import MISSING, all_of, getter, key_function, predicate
from eventeye.core.rules.schemas import Rule
from tests.core.rules.helpers import fact


def check(condition: dict[str, Any], **attributes: Any) -> bool:
    parsed = Rule.model_validate({"name": "r", "kind": "match", "when": [condition]}).when[0]
    return predicate(parsed)(fact(**attributes))


class TestPaths:
    def test_reads_nested_values_by_dotted_path(self) -> None:
        assert getter("data.host")(fact(data={"host": "a.example"})) == "a.example"

    def test_reads_list_items_by_index(self) -> None:
        assert getter("data.items.1")(fact(data={"items": ["x", "y"]})) == "y"

    def test_missing_parts_are_missing_not_errors(self) -> None:
        subject = fact(data={"host": "a"})
        assert getter("data.port")(subject) is MISSING
        assert getter("data.host.deeper")(subject) is MISSING
        assert getter("data.items.7")(fact(data={"items": []})) is MISSING
        assert getter("nothing")(subject) is MISSING

    def test_fact_fields_unless_an_attribute_has_the_name(self) -> None:
        assert getter("source")(fact(source="shop")) == "shop"
        assert getter("type")(fact(type="x/y")) == "x/y"
        assert getter("type")(replace(fact(type="x/y"), attributes={"type": "car"})) == "car"


class TestOperators:
    def test_equals_is_exact_unless_case_insensitive(self) -> None:
        assert check({"field": "Category", "op": "equals", "value": "SUV"}, Category="SUV")
        assert not check({"field": "Category", "op": "equals", "value": "SUV"}, Category="suv")
        assert check({"field": "Category", "op": "equals", "value": "SUV", "case_insensitive": True}, Category="suv")

    def test_equals_compares_numbers_by_value_and_keeps_booleans_apart(self) -> None:
        assert check({"field": "n", "op": "equals", "value": 5}, n=5.0)
        assert not check({"field": "n", "op": "equals", "value": 1}, n=True)
        assert not check({"field": "n", "op": "equals", "value": "5"}, n=5)

    def test_in(self) -> None:
        condition = {"field": "type", "op": "in", "values": ["pedestrian", "bicycle"]}
        assert check(condition, type="bicycle")
        assert not check(condition, type="car")
        assert check({**condition, "case_insensitive": True}, type="Pedestrian")
        assert not check(condition)  # the attribute is absent: the fact's own type is not in the list

    def test_range_is_inclusive_on_numbers_only(self) -> None:
        condition = {"field": "data.status", "op": "range", "min": 500, "max": 599}
        assert check(condition, data={"status": 500})
        assert check(condition, data={"status": 599})
        assert not check(condition, data={"status": 600})
        assert not check(condition, data={"status": "550"})
        assert not check(condition, data={"status": True})
        assert check({"field": "x", "op": "range", "min": 1.5}, x=10**9)

    def test_exists_means_present_and_not_null(self) -> None:
        assert check({"field": "data.error", "op": "exists"}, data={"error": "boom"})
        assert not check({"field": "data.error", "op": "exists"}, data={"error": None})
        assert not check({"field": "data.error", "op": "exists"}, data={})
        assert check({"field": "data.error", "op": "exists", "negate": True}, data={})

    def test_regex_searches_text_and_numbers(self) -> None:
        assert check({"field": "data.path", "op": "regex", "pattern": "^/checkout"}, data={"path": "/checkout/pay"})
        assert not check({"field": "data.path", "op": "regex", "pattern": "^/checkout"}, data={"path": "/cart"})
        assert check({"field": "code", "op": "regex", "pattern": "^5\\d\\d$"}, code=503)
        assert check({"field": "name", "op": "regex", "pattern": "ERROR", "case_insensitive": True}, name="an error")
        assert not check({"field": "name", "op": "regex", "pattern": "x"}, name={"x": 1})

    def test_negate_inverts_and_holds_for_missing_values(self) -> None:
        condition = {"field": "category", "op": "equals", "value": "error", "negate": True}
        assert check(condition, category="page interaction")
        assert not check(condition, category="error")
        assert check(condition)

    def test_all_of_needs_every_condition(self) -> None:
        parsed = Rule.model_validate(
            {
                "name": "r",
                "kind": "match",
                "when": [
                    {"field": "a", "op": "equals", "value": 1},
                    {"field": "b", "op": "exists"},
                ],
            }
        )
        both = all_of(parsed.when)
        assert both(fact(a=1, b=0))
        assert not both(fact(a=1))
        assert all_of([])(fact())


class TestKeys:
    def test_global_rules_have_one_empty_key(self) -> None:
        assert key_function([])(fact(session_id="s")) == ""

    def test_one_attribute_gives_its_text(self) -> None:
        assert key_function(["session_id"])(fact(session_id="s-1")) == "s-1"
        assert key_function(["camera"])(fact(camera=7)) == "7"

    def test_several_attributes_cannot_collide_by_concatenation(self) -> None:
        key = key_function(["a", "b"])
        assert key(fact(a="x|y", b="z")) != key(fact(a="x", b="y|z"))

    @pytest.mark.parametrize("attributes", [{}, {"session_id": None}])
    def test_a_missing_key_attribute_leaves_the_fact_out(self, attributes: dict[str, Any]) -> None:
        assert key_function(["session_id"])(fact(**attributes)) is None

    def test_long_keys_are_hashed_to_fit(self) -> None:
        key = key_function(["k"])(fact(k="x" * 1000))
        assert key is not None
        assert key.startswith("sha256:")
        assert len(key) <= 255
        assert key != key_function(["k"])(fact(k="x" * 999))
