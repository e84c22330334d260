"""Reading detection messages: JSON, the producer's single-quoted form, and everything else."""

from __future__ import annotations

import orjson
import pytest

from eventeye.config import Settings
from eventeye.core.pipeline.kafka_source import InvalidRecord
from eventeye.core.rules.schemas import Rule
from eventeye.vehicles.service import default_rule, parse_record, suspicious_categories

SEED_FORM = b"{'Year': 2003, 'Make': 'Honda', 'Model': 'Pilot', 'Category': 'SUV'}"


def body_of(value: bytes) -> dict[str, object]:
    type, body = parse_record(value)
    assert type == "detection"
    return dict(orjson.loads(body))


class TestAccepted:
    def test_json_is_read_as_is(self) -> None:
        value = b'{"Year": 2011, "Make": "Toyota", "Model": "Land Cruiser", "Category": "SUV"}'

        assert body_of(value) == {"Year": 2011, "Make": "Toyota", "Model": "Land Cruiser", "Category": "SUV"}

    def test_the_single_quoted_form_of_the_original_producer_is_read(self) -> None:
        assert body_of(SEED_FORM) == {"Year": 2003, "Make": "Honda", "Model": "Pilot", "Category": "SUV"}

    def test_names_are_trimmed_and_extra_fields_dropped(self) -> None:
        value = b'{"Year": 2011, "Make": " Toyota ", "Model": "Hilux\\t", "Category": "Pickup", "Color": "red"}'

        assert body_of(value) == {"Year": 2011, "Make": "Toyota", "Model": "Hilux", "Category": "Pickup"}


class TestRefused:
    @pytest.mark.parametrize(
        ("value", "field", "reason"),
        [
            (b'{"Make": "Toyota", "Model": "Yaris", "Category": "Sedan"}', "Year", "is required"),
            (b'{"Year": "2011", "Make": "Toyota", "Model": "Yaris", "Category": "Sedan"}', "Year", "integer"),
            (b'{"Year": true, "Make": "Toyota", "Model": "Yaris", "Category": "Sedan"}', "Year", "integer"),
            (b'{"Year": 2011.5, "Make": "Toyota", "Model": "Yaris", "Category": "Sedan"}', "Year", "integer"),
            (b'{"Year": 1200, "Make": "Toyota", "Model": "Yaris", "Category": "Sedan"}', "Year", "between"),
            (b'{"Year": 2011, "Make": "  ", "Model": "Yaris", "Category": "Sedan"}', "Make", "1 to 100"),
            (b'{"Year": 2011, "Make": "Toyota", "Model": 7, "Category": "Sedan"}', "Model", "string"),
            (b'{"Year": 2011, "Make": "Toyota", "Model": "Yaris"}', "Category", "is required"),
            (b'{"Year": 2011, "Make": "Toy\\u0000ota", "Model": "Yaris", "Category": "Sedan"}', "Make", "NUL"),
            (b'[{"Year": 2011}]', "$", "object"),
        ],
    )
    def test_a_bad_field_is_named(self, value: bytes, field: str, reason: str) -> None:
        with pytest.raises(InvalidRecord) as caught:
            parse_record(value)

        assert caught.value.field == field
        assert reason in caught.value.reason

    def test_a_name_over_100_characters_is_refused(self) -> None:
        value = orjson.dumps({"Year": 2011, "Make": "x" * 101, "Model": "Yaris", "Category": "Sedan"})

        with pytest.raises(InvalidRecord, match="1 to 100"):
            parse_record(value)

    @pytest.mark.parametrize(
        "value",
        [
            b"garbage",
            b"\xff\xfe{'Year': 2011}",
            b"{'Year': 2011, 'Make': ['Toyota'], 'Model': 'Yaris', 'Category': 'Sedan'}",
            b"{'Year': 2011, 'Make': __import__('os').getcwd(), 'Model': 'Yaris', 'Category': 'Sedan'}",
            b"{'Year': 2011, 'Make': 'Toyota' + 'x', 'Model': 'Yaris', 'Category': 'Sedan'}",
            b"{'Year': True, 'Make': 'Toyota', 'Model': 'Yaris', 'Category': 'Sedan'}",
            b"{1: 2}",
        ],
    )
    def test_anything_but_json_or_a_flat_literal_is_refused_without_being_evaluated(self, value: bytes) -> None:
        with pytest.raises(InvalidRecord):
            parse_record(value)

    def test_the_single_quoted_form_is_bounded_in_size(self) -> None:
        long_form = (
            b"{'Year': 2011, 'Make': 'Toyota', 'Model': 'Yaris', 'Category': 'Sedan', 'Note': '" + b"x" * 2000 + b"'}"
        )

        with pytest.raises(InvalidRecord, match="over 1024 bytes"):
            parse_record(long_form)


class TestSuspiciousVehicle:
    def test_a_comma_separated_list_is_split_and_trimmed(self) -> None:
        assert suspicious_categories(" SUV, Pickup ,,Van") == ["SUV", "Pickup", "Van"]

    def test_the_plain_environment_variable_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SUSPICIOUS_VEHICLE", "Pickup")

        assert Settings(_env_file=None).suspicious_vehicle == "Pickup"  # type: ignore[call-arg]

    def test_the_default_rule_matches_the_categories_case_insensitively(self) -> None:
        rule = Rule.model_validate(default_rule(Settings(suspicious_vehicle="SUV,Van")))

        [condition] = rule.when
        assert condition.model_dump(include={"field", "op", "values", "case_insensitive"}) == {
            "field": "Category",
            "op": "in",
            "values": ["SUV", "Van"],
            "case_insensitive": True,
        }
        assert rule.enabled
        assert rule.sinks == []

    def test_with_kafka_the_rule_also_publishes_to_the_alerts_topic(self) -> None:
        settings = Settings(
            suspicious_vehicle="SUV", kafka_bootstrap_servers="broker:9092", vehicles_alerts_topic="a.b"
        )

        sinks = Rule.model_validate(default_rule(settings)).sinks

        assert [sink.model_dump() for sink in sinks] == [{"kind": "kafka", "topic": "a.b"}]

    def test_an_empty_setting_disables_the_rule(self) -> None:
        assert Rule.model_validate(default_rule(Settings(suspicious_vehicle=" , "))).enabled is False
