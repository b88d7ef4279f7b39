"""Which clicks may name a request: its channel, its message, and for Endorse its thread."""

from __future__ import annotations

from bot.services.approvals.clicks import ANOTHER_CHANNEL, ANOTHER_MESSAGE, Clicked, misplaced

POSTED = {"channel_id": "C1", "message_ts": "100.2", "thread_ts": "100.1"}


def test_a_click_on_the_requests_own_message_belongs() -> None:
    assert misplaced(Clicked("C1", "100.2", "100.1"), **POSTED) is None


def test_a_click_in_another_channel_does_not() -> None:
    assert misplaced(Clicked("C2", "100.2", "100.1"), **POSTED) == ANOTHER_CHANNEL


def test_another_message_of_the_same_thread_belongs_only_where_buttons_follow_in_it() -> None:
    assert misplaced(Clicked("C1", "100.3", "100.1"), **POSTED) == ANOTHER_MESSAGE
    assert misplaced(Clicked("C1", "100.3", "100.1"), **POSTED, in_thread=True) is None
    assert misplaced(Clicked("C1", "100.1", None), **POSTED, in_thread=True) is None  # the root
    assert misplaced(Clicked("C1", "200.1", None), **POSTED, in_thread=True) == ANOTHER_MESSAGE


def test_before_its_message_is_stored_a_request_is_checked_by_thread_then_channel() -> None:
    unposted = {"channel_id": "C1", "message_ts": None, "thread_ts": "100.1"}
    assert misplaced(Clicked("C1", "100.5", "100.1"), **unposted) is None
    assert misplaced(Clicked("C1", "300.5", None), **unposted) == ANOTHER_MESSAGE
    nothing = {"channel_id": "C1", "message_ts": None, "thread_ts": None}
    assert misplaced(Clicked("C1", "300.5", None), **nothing) is None
    assert misplaced(Clicked("C9", "300.5", None), **nothing) == ANOTHER_CHANNEL


def test_a_form_names_only_its_channel_and_no_click_is_not_checked() -> None:
    assert misplaced(Clicked("C1"), **POSTED) is None
    assert misplaced(Clicked("C2"), **POSTED) == ANOTHER_CHANNEL
    assert misplaced(None, **POSTED) is None
