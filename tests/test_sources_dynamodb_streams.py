"""Unit tests for :mod:`idemlock.sources.dynamodb_streams`: keys, deserializing, changes."""

from __future__ import annotations

import base64
import copy
import pickle
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import dynamodb_streams as ds
from tests.sources_helpers import load_event, record_of, single

ARN = (
    "arn:aws:dynamodb:us-west-2:123456789012:table/ExampleTableWithStream/stream/"
    "2015-06-27T00:48:05.899"
)


def _record(
    event_name: str = "MODIFY",
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    view: str = "NEW_AND_OLD_IMAGES",
) -> dict[str, Any]:
    """A stream record built from typed images (absent when None)."""
    data: dict[str, Any] = {
        "Keys": {"Id": {"S": "item-1"}},
        "SequenceNumber": "900",
        "StreamViewType": view,
    }
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    return {
        "eventID": "e-1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": ARN,
        "dynamodb": data,
    }


# --- sequence_key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "sequence"),
    [(0, "111"), (1, "222"), (2, "333")],
)
def test_sequence_key_of_event_and_of_record(index: int, sequence: str) -> None:
    """sequence_key is streamARN#SequenceNumber, for a single-record event and for its record."""
    assert ds.sequence_key(record_of("dynamodb-stream", index)) == f"{ARN}#{sequence}"
    assert ds.sequence_key(single("dynamodb-stream", index), None) == f"{ARN}#{sequence}"


def test_sequence_key_refuses_a_batch() -> None:
    """The three-record sample given to sequence_key is an EventError pointing to per-record use."""
    with pytest.raises(EventError) as caught:
        ds.sequence_key(load_event("dynamodb-stream"))
    assert "3 records" in str(caught.value)
    assert caught.value.source == "aws:dynamodb"


# --- deserialize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ({"S": "text"}, "text"),
        ({"S": ""}, ""),
        ({"N": "12.50"}, Decimal("12.50")),
        ({"N": "-1E+3"}, Decimal("-1E+3")),
        ({"B": base64.b64encode(b"\x00\xffbin").decode()}, b"\x00\xffbin"),
        ({"SS": ["a", "b"]}, {"a", "b"}),
        ({"NS": ["1", "2.5"]}, {Decimal("1"), Decimal("2.5")}),
        ({"BS": [base64.b64encode(b"x").decode(), "eQ=="]}, {b"x", b"y"}),
        ({"M": {"a": {"N": "1"}, "b": {"L": []}}}, {"a": Decimal("1"), "b": []}),
        ({"L": [{"S": "x"}, {"N": "2"}, {"NULL": True}]}, ["x", Decimal("2"), None]),
        ({"NULL": True}, None),
        ({"BOOL": True}, True),
        ({"BOOL": False}, False),
    ],
)
def test_deserialize_each_type(typed: dict[str, Any], plain: Any) -> None:
    """Every DynamoDB type tag becomes the plain Python value boto3's TypeDeserializer gives."""
    value = ds.deserialize(typed)
    assert value == plain
    assert type(value) is type(plain)


def test_numbers_are_exact_decimals() -> None:
    """N values keep every digit (38 significant digits) and their exact decimal value."""
    digits = "12345678901234567890123456789012345678"
    assert ds.deserialize({"N": digits}) == Decimal(digits)
    assert str(ds.deserialize({"N": "0.1"})) == "0.1"
    assert ds.deserialize({"N": "0.1"}) != 0.1  # a float would be a binary approximation


def test_binary_already_decoded_passes_through() -> None:
    """Binary read through boto3 (bytes, not base64 text) is kept as is."""
    assert ds.deserialize({"B": b"raw"}) == b"raw"


def test_deserialize_image_nests_maps_and_lists() -> None:
    """deserialize_image turns a whole typed image into plain nested Python."""
    image = {
        "Id": {"S": "o-1"},
        "Lines": {"L": [{"M": {"sku": {"S": "A"}, "qty": {"N": "2"}}}]},
        "Flags": {"M": {"gift": {"BOOL": False}, "note": {"NULL": True}}},
    }
    assert ds.deserialize_image(image) == {
        "Id": "o-1",
        "Lines": [{"sku": "A", "qty": Decimal("2")}],
        "Flags": {"gift": False, "note": None},
    }


@pytest.mark.parametrize(
    ("typed", "path"),
    [
        ({"XS": ["a"]}, ""),
        ({}, ""),
        ({"S": "a", "N": "1"}, ""),
        ({"N": 12}, ""),
        ({"N": "NaN"}, ""),
        ({"N": "Infinity"}, ""),
        ({"N": "1,5"}, ""),
        ({"B": "not base64!"}, ""),
        ({"B": 5}, ""),
        ({"BOOL": "true"}, ""),
        ({"SS": "ab"}, ""),
        ({"NS": ["1", "x"]}, "[1]"),
        ({"L": [{"S": "ok"}, {"Q": 1}]}, "[1]"),
        ({"M": {"inner": {"M": {"deep": {"Z": 0}}}}}, "inner.deep"),
        ({"M": ["not", "a", "map"]}, ""),
    ],
)
def test_deserialize_malformed_values(typed: Any, path: str) -> None:
    """A malformed typed value is an EventError at the path inside the value."""
    with pytest.raises(EventError) as caught:
        ds.deserialize(typed)
    assert caught.value.path == path
    assert caught.value.source == "aws:dynamodb"


def test_unknown_type_tag_is_named() -> None:
    """An unknown type tag is an EventError whose message names the tag."""
    with pytest.raises(EventError, match="'SX'"):
        ds.deserialize_image({"Tags": {"SX": ["a"]}})


@pytest.mark.parametrize("value", ["S", None, ["S", "x"]])
def test_deserialize_non_mapping(value: Any) -> None:
    """A typed value that is not a mapping is an EventError, not a TypeError."""
    with pytest.raises(EventError):
        ds.deserialize(value)


# --- ABSENT and Change -------------------------------------------------------------------------


def test_absent_is_a_singleton_with_a_clear_repr() -> None:
    """ABSENT reads as <absent> and stays the same object through copy and pickle."""
    assert repr(ds.ABSENT) == "<absent>"
    assert copy.deepcopy(ds.ABSENT) is ds.ABSENT
    assert pickle.loads(pickle.dumps(ds.ABSENT)) is ds.ABSENT


def test_change_is_a_named_pair() -> None:
    """A Change unpacks as (old, new) and names its fields."""
    change = ds.Change("a", ds.ABSENT)
    old, new = change
    assert (change.old, change.new) == (old, new) == ("a", ds.ABSENT)


# --- StreamRecord ------------------------------------------------------------------------------


def test_insert_record() -> None:
    """The INSERT sample: keys, a new image with sets, maps, NULL, BOOL, Decimal; no old image."""
    record = ds.StreamRecord.from_record(record_of("dynamodb-stream", 0))
    assert record.sequence_key == f"{ARN}#111"
    assert record.event_name == "INSERT"
    assert record.sequence_number == "111"
    assert record.keys == {"Id": Decimal("101")}
    assert record.old is None
    assert record.new == {
        "Message": "New item!",
        "Id": Decimal("101"),
        "Tags": {"a", "b"},
        "Price": Decimal("12.50"),
        "Meta": {"ok": True, "n": None},
    }
    assert isinstance(record.new["Tags"], set)
    assert record.new["Meta"]["ok"] is True
    assert record.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert record.created_at == datetime.fromtimestamp(1763600000, tz=timezone.utc)
    assert record.size_bytes == 26
    assert record.raw == record_of("dynamodb-stream", 0)
    # Every attribute of a new item was added (was {}, which read as "nothing changed").
    assert record.changed == {name: ds.Change(ds.ABSENT, new) for name, new in record.new.items()}


def test_modify_record_reports_what_changed() -> None:
    """The MODIFY sample has both images; changed names the attribute whose value changed."""
    record = ds.StreamRecord.from_record(record_of("dynamodb-stream", 1))
    assert record.event_name == "MODIFY"
    assert record.old == {"Message": "New item!", "Id": Decimal("101")}
    assert record.new == {"Message": "This item has changed", "Id": Decimal("101")}
    assert record.changed == {"Message": ds.Change("New item!", "This item has changed")}
    assert record.created_at is None


def test_remove_record_has_only_the_old_image() -> None:
    """The REMOVE sample has an old image, no new image: every attribute was removed."""
    record = ds.StreamRecord.from_record(record_of("dynamodb-stream", 2))
    assert record.event_name == "REMOVE"
    assert record.old == {"Message": "This item has changed", "Id": Decimal("101")}
    assert record.new is None
    # Was {}, which read as "nothing changed".
    assert record.changed == {
        "Message": ds.Change("This item has changed", ds.ABSENT),
        "Id": ds.Change(Decimal("101"), ds.ABSENT),
    }


def test_stream_records_parses_every_record_in_order() -> None:
    """stream_records() parses all three sample records in stream order."""
    records = ds.stream_records(load_event("dynamodb-stream"))
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert [r.sequence_number for r in records] == ["111", "222", "333"]
    assert [r.sequence_key for r in records] == [f"{ARN}#{n}" for n in ("111", "222", "333")]


def test_changed_includes_added_and_removed_attributes() -> None:
    """An added attribute is Change(ABSENT, new), a removed one Change(old, ABSENT)."""
    record = ds.StreamRecord.from_record(
        _record(
            old={"Id": {"S": "item-1"}, "Gone": {"N": "1"}, "Same": {"SS": ["a", "b"]}},
            new={"Id": {"S": "item-1"}, "Added": {"BOOL": False}, "Same": {"SS": ["b", "a"]}},
        )
    )
    assert record.changed == {
        "Added": ds.Change(ds.ABSENT, False),
        "Gone": ds.Change(Decimal("1"), ds.ABSENT),
    }


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"N": "1"}, {"BOOL": True}),
        ({"N": "0"}, {"BOOL": False}),
        ({"L": [{"N": "1"}]}, {"L": [{"BOOL": True}]}),
        ({"M": {"x": {"N": "1"}}}, {"M": {"x": {"BOOL": True}}}),
        ({"S": "a"}, {"NULL": True}),
    ],
)
def test_changed_tells_types_apart(before: dict[str, Any], after: dict[str, Any]) -> None:
    """A change of type is a change even where Python calls the values equal (1 == True)."""
    record = ds.StreamRecord.from_record(_record(old={"v": before}, new={"v": after}))
    assert set(record.changed or ()) == {"v"}


def test_equal_numbers_written_differently_are_unchanged() -> None:
    """The same number is not a change: N "1.0" and N "1" are one DynamoDB number."""
    record = ds.StreamRecord.from_record(_record(old={"v": {"N": "1.0"}}, new={"v": {"N": "1"}}))
    assert record.changed == {}


def test_binary_attributes() -> None:
    """B and BS values are base64-decoded to bytes in keys and images."""
    raw = _record(
        "INSERT",
        new={
            "Blob": {"B": base64.b64encode(b"\x89PNG").decode()},
            "Chunks": {
                "BS": [base64.b64encode(b"one").decode(), base64.b64encode(b"two").decode()]
            },
        },
    )
    raw["dynamodb"]["Keys"] = {"Hash": {"B": "AAE="}}
    record = ds.StreamRecord.from_record(raw)
    assert record.keys == {"Hash": b"\x00\x01"}
    assert record.new == {"Blob": b"\x89PNG", "Chunks": {b"one", b"two"}}


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY", "REMOVE"])
def test_keys_only_view_type_has_no_images(event_name: str) -> None:
    """A KEYS_ONLY stream carries neither image: old and new are None, and changed is None
    ("this stream cannot say"), never {} ("nothing changed")."""
    record = ds.StreamRecord.from_record(_record(event_name, view="KEYS_ONLY"))
    assert record.stream_view_type == "KEYS_ONLY"
    assert record.keys == {"Id": "item-1"}
    assert (record.old, record.new) == (None, None)
    assert record.changed is None


def test_new_image_view_type_cannot_tell_what_a_modify_changed() -> None:
    """A NEW_IMAGE stream's MODIFY has no old image: changed is None, not {} (was {})."""
    record = ds.StreamRecord.from_record(
        _record("MODIFY", new={"Id": {"S": "item-1"}, "v": {"N": "2"}}, view="NEW_IMAGE")
    )
    assert record.old is None
    assert record.new == {"Id": "item-1", "v": Decimal("2")}
    assert record.changed is None


@pytest.mark.parametrize(
    ("event_name", "view", "images", "tells"),
    [
        ("INSERT", "NEW_IMAGE", {"new"}, True),
        ("INSERT", "OLD_IMAGE", set(), False),
        ("REMOVE", "OLD_IMAGE", {"old"}, True),
        ("REMOVE", "NEW_IMAGE", set(), False),
        ("MODIFY", "OLD_IMAGE", {"old"}, False),
        ("MODIFY", "NEW_AND_OLD_IMAGES", {"old", "new"}, True),
    ],
)
def test_changed_is_none_exactly_when_the_view_lacks_an_image(
    event_name: str, view: str, images: set[str], tells: bool
) -> None:
    """changed is a dict when the view carries what the event needs, else None."""
    image = {"Id": {"S": "item-1"}}
    raw = _record(
        event_name,
        old=image if "old" in images else None,
        new=image if "new" in images else None,
        view=view,
    )
    changed = ds.StreamRecord.from_record(raw).changed
    assert (changed is not None) is tells


def test_a_modify_that_changed_nothing_is_an_empty_dict() -> None:
    """Both images, equal: changed is {} ("nothing changed"), which None never means."""
    image = {"Id": {"S": "item-1"}, "v": {"N": "1"}}
    assert ds.StreamRecord.from_record(_record(old=image, new=image)).changed == {}


def test_without_a_view_type_the_images_present_decide() -> None:
    """A hand-built record without StreamViewType: changed compares what it carries."""
    raw = _record(new={"Id": {"S": "item-1"}})
    del raw["dynamodb"]["StreamViewType"]
    assert ds.StreamRecord.from_record(raw).changed is None
    raw["dynamodb"]["OldImage"] = {"Id": {"S": "item-0"}}
    assert ds.StreamRecord.from_record(raw).changed == {"Id": ds.Change("item-0", "item-1")}


def test_source_arn_is_the_stream_arn() -> None:
    """StreamRecord.source_arn is the record's eventSourceARN (the table's stream)."""
    assert ds.StreamRecord.from_record(record_of("dynamodb-stream")).source_arn == ARN


def test_a_ttl_deletion_is_told_apart_from_a_user_delete() -> None:
    """A REMOVE made by DynamoDB's TTL carries userIdentity Service/dynamodb.amazonaws.com."""
    # shape: AWS DynamoDB Developer Guide, 'Working with expired items and time to live (TTL)'
    by_ttl = _record("REMOVE", old={"Id": {"S": "item-1"}})
    by_ttl["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    by_user = _record("REMOVE", old={"Id": {"S": "item-1"}})
    assert ds.StreamRecord.from_record(by_ttl).ttl_expired is True
    assert ds.StreamRecord.from_record(by_user).ttl_expired is False
    other = _record("REMOVE", old={"Id": {"S": "item-1"}})
    other["userIdentity"] = {"type": "Service", "principalId": "other.amazonaws.com"}
    assert ds.StreamRecord.from_record(other).ttl_expired is False


def test_a_malformed_user_identity_is_an_event_error() -> None:
    """userIdentity that is not a mapping is an EventError naming it."""
    raw = _record("REMOVE", old={"Id": {"S": "item-1"}})
    raw["userIdentity"] = "dynamodb"
    with pytest.raises(EventError) as caught:
        ds.StreamRecord.from_record(raw)
    assert caught.value.path == "userIdentity"


def test_optional_fields_may_be_absent() -> None:
    """A record without view type, creation time or size has None for each."""
    raw = _record(new={"Id": {"S": "item-1"}})
    del raw["dynamodb"]["StreamViewType"]
    record = ds.StreamRecord.from_record(raw)
    assert (record.stream_view_type, record.created_at, record.size_bytes) == (None, None, None)


def test_record_errors_name_the_attribute_path() -> None:
    """A malformed attribute in a lone record is an EventError at dynamodb.<Image>.<name>."""
    with pytest.raises(EventError) as caught:
        ds.StreamRecord.from_record(_record(new={"Id": {"S": "x"}, "Bad": {"N": "x"}}))
    assert caught.value.path == "dynamodb.NewImage.Bad"
