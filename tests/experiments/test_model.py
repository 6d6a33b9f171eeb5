"""Status vocabulary: the canonical lifecycle and each dialect's words for it."""

from __future__ import annotations

import pytest

from splitlab.experiments.model import (
    TRANSITIONS,
    ExperimentStatus,
    LegacyStatus,
    legacy_statuses,
    parse_status,
    resolve_inactive,
    to_legacy,
)

S = ExperimentStatus


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("ACTIVE", S.RUNNING),
        ("active", S.RUNNING),
        ("Running", S.RUNNING),
        ("DRAFT", S.DRAFT),
        ("PAUSED", S.PAUSED),
        ("COMPLETED", S.COMPLETED),
        ("Cancelled", S.CANCELLED),
        ("canceled", S.CANCELLED),
        (" paused ", S.PAUSED),
    ],
)
def test_status_words_are_accepted_in_any_case(word: str, status: ExperimentStatus) -> None:
    assert parse_status(word) is status


def test_unknown_status_word_is_none() -> None:
    assert parse_status("launched") is None


def test_final_states_have_no_way_out() -> None:
    assert TRANSITIONS[S.COMPLETED] == TRANSITIONS[S.CANCELLED] == frozenset()


def test_every_non_final_state_can_be_cancelled() -> None:
    assert all(S.CANCELLED in TRANSITIONS[s] for s in S if not s.is_final)


def test_draft_cannot_complete_without_running() -> None:
    assert S.COMPLETED not in TRANSITIONS[S.DRAFT]


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (S.DRAFT, "inactive"),
        (S.PAUSED, "inactive"),
        (S.RUNNING, "active"),
        (S.COMPLETED, "completed"),
        (S.CANCELLED, "cancelled"),
    ],
)
def test_seed_003_words_for_each_status(status: ExperimentStatus, word: str) -> None:
    assert to_legacy(status) == word


def test_inactive_filter_covers_draft_and_paused() -> None:
    assert legacy_statuses(LegacyStatus.INACTIVE) == [S.DRAFT, S.PAUSED]


def test_deactivating_a_draft_keeps_it_a_draft_and_pauses_anything_else() -> None:
    assert resolve_inactive(S.DRAFT) is S.DRAFT
    assert resolve_inactive(S.RUNNING) is S.PAUSED
