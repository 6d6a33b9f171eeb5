"""The batch fast path accepts exactly the batches the per-event path accepts, with equal results.

``schemas.fast_batch`` validates a whole body straight from its bytes and may only ever say "all
good"; whenever it is unsure it answers None and ``EventIn`` decides event by event. These tests
hold it to that: on every batch, either both paths accept every event and produce the same
``CheckedEvent`` list, or the fast path declines and the slow path rejects something.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from splitlab.events.schemas import fast_batch
from splitlab.events.service import MAX_BATCH_EVENTS, _validate
from tests.api.test_event_input import INVALID_EVENTS

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def both_paths(body: bytes) -> tuple[list[Any] | None, list[Any], int]:
    """(fast result, the slow path's checked events, how many events the slow path rejected)."""
    valid, rejected = _validate(json.loads(body)["events"], NOW)
    return (
        fast_batch(body, NOW, max_events=MAX_BATCH_EVENTS),
        [checked for _, checked in valid],
        len(rejected),
    )


def test_a_clean_batch_takes_the_fast_path_with_the_same_result() -> None:
    events = [
        {
            "event_id": f"e-{i}",
            "experiment_id": ("checkout", 7, None)[i % 3],
            "user_id": f"user-{i}",
            "event_type": "purchase",
            "properties": {"value": i * 1.5, "plan": "pro", "tags": ["a", {"b": 1}]},
            "timestamp": (NOW - timedelta(minutes=i)).astimezone().isoformat(),
        }
        for i in range(50)
    ]
    events.append({"user_id": "bare", "event_type": "view"})
    events.append({"user_id": "int-value", "event_type": "v", "properties": {"value": 3}})
    events.append({"user_id": "own-value", "event_type": "v", "value": "2.5"})
    fast, slow, rejected = both_paths(json.dumps({"events": events}).encode())
    assert rejected == 0
    assert fast is not None
    assert fast == slow
    assert fast[-1].value == 2.5
    assert fast[-2].value == 3.0
    assert fast[-3].value is None
    assert fast[-3].properties == {}
    assert all(c.timestamp is None or c.timestamp.utcoffset() == timedelta(0) for c in fast)


def test_every_known_bad_event_turns_the_fast_path_down() -> None:
    good = '{"user_id": "ok", "event_type": "e"}'
    for name, raw in INVALID_EVENTS.items():
        body = ('{"events": [' + good + "," + raw + "]}").encode()
        assert fast_batch(body, NOW, max_events=MAX_BATCH_EVENTS) is None, name


def test_a_timestamp_more_than_a_day_ahead_or_without_a_zone_goes_the_slow_way() -> None:
    for stamp in [(NOW + timedelta(days=1, seconds=1)).isoformat(), "2026-12-04T12:00:00"]:
        body = json.dumps({"events": [{"user_id": "u", "event_type": "e", "timestamp": stamp}]})
        fast, _, rejected = both_paths(body.encode())
        assert fast is None
        assert rejected == 1


#: Mostly storable text, so that many batches are valid through and through; now and then an
#: edge: empty, NUL, an unpaired surrogate, non-ASCII, or longer than a column allows.
storable = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6)
#: Bodies as clients really send them, not as ``json.dumps`` writes them: duplicate keys, raw
#: UTF-8, numeric and odd ISO timestamps, strings where numbers go, an escaped backslash before
#: "u0000", NaN in a key nobody reads, and the limits of each column.
RAW_EVENTS = [
    '{"user_id": "u", "user_id": "v", "event_type": "e"}',
    '{"user_id": "u", "event_type": "e", "properties": {"value": 1, "value": 2.5}}',
    '{"user_id": "ü", "event_type": "日本", "properties": {"ключ": "значение 😀"}}',
    '{"user_id": "u", "event_type": "e", "timestamp": 1733300000}',
    '{"user_id": "u", "event_type": "e", "timestamp": 1733300000123}',
    '{"user_id": "u", "event_type": "e", "timestamp": "2026-12-04t10:00:00z"}',
    '{"user_id": "u", "event_type": "e", "timestamp": "2026-12-04 10:00:00+0100"}',
    '{"user_id": "u", "event_type": "e", "timestamp": "2026-12-04T10:00:00.123456789+05:30"}',
    '{"user_id": "u", "event_type": "e", "value": "2.5"}',
    '{"user_id": "u", "event_type": "e", "value": true}',
    '{"user_id": "u", "event_type": "e", "value": -0.0}',
    '{"user_id": "u", "event_type": "e", "properties": {"value": "3"}}',
    '{"user_id": "u", "event_type": "e", "properties": {"value": 18446744073709551617}}',
    '{"user_id": "u", "event_type": "e", "experiment_id": 1.0}',
    '{"user_id": "u", "event_type": "e", "experiment_id": "0"}',
    '{"user_id": "u", "event_type": "e", "properties": {"path": "C:\\\\u0000"}}',
    '{"user_id": "u", "event_type": "e", "properties": []}',
    '{"user_id": "u", "event_type": "e", "properties": null}',
    '{"user_id": "' + "x" * 255 + '", "event_type": "' + "é" * 200 + '"}',
    '{"user_id": "u", "event_type": "e", "event_id": "' + "😀" * 100 + '"}',
]


def test_raw_bodies_get_the_same_answer_from_both_paths() -> None:
    for raw in RAW_EVENTS:
        body = ('{"events": [' + raw + '], "meta": NaN}').encode()
        fast, slow, rejected = both_paths(body)
        if "\\\\u0000" in raw:  # an escaped backslash, then "u0000": the byte scan declines it
            assert (fast, rejected) == (None, 0), raw
            continue
        assert fast == (None if rejected else slow), raw
        if not rejected:
            assert repr(fast) == repr(slow), raw  # int vs float, -0.0: the very same values


def test_more_events_than_a_batch_holds_are_left_to_the_slow_path() -> None:
    body = json.dumps({"events": [{"user_id": "u", "event_type": "e"}] * 3}).encode()
    assert fast_batch(body, NOW, max_events=2) is None
    assert fast_batch(body, NOW, max_events=3) is not None


texts = st.one_of(
    storable.filter(bool),
    storable.filter(bool),
    storable,
    st.sampled_from(["", "\x00", "a\x00", "\ud800", "é", "😀", "x" * 101, "x" * 256]),
)
numbers = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
leaves = st.one_of(st.none(), texts, numbers)
property_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
timestamps = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, None]) | st.timezones(),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            (NOW + timedelta(hours=23)).isoformat(),
            (NOW + timedelta(hours=25)).isoformat(),
            "not a time",
        ]
    ),
)
events = st.fixed_dictionaries(
    {"user_id": texts, "event_type": texts},
    optional={
        "experiment_id": st.one_of(st.none(), texts, numbers),
        "event_id": st.one_of(st.none(), texts),
        "value": st.one_of(st.none(), numbers, texts),
        "properties": st.one_of(
            st.none(), st.dictionaries(texts, property_values, max_size=4), property_values
        ),
        "timestamp": timestamps,
        "unknown_field": st.just(1),
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=3))
@example([{"user_id": "u", "event_type": "e", "properties": {"value": 10**400}}])
@example([{"user_id": "u", "event_type": "e", "properties": {"a": [[[[]]]] * 2}}])
def test_the_fast_path_agrees_with_the_per_event_path(batch: list[dict[str, Any]]) -> None:
    body = json.dumps({"events": batch}).encode()  # NaN, Infinity and \\ud800 as json sends them
    fast, slow, rejected = both_paths(body)
    if rejected:
        assert fast is None
    else:
        assert fast == slow
