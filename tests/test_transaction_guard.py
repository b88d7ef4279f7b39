"""The guard that the end-to-end tests run under (``tests/transaction_guard.py``, autouse in
tests/slack/) does catch a Slack call made inside a transaction: a user-group look-up inside a
unit of work, as ``roles_of`` used to make it; resolved first (``resolving_groups``), the same
check makes its call outside, and the guard stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.devtools.emulator import SlackEmulator, default_seed
from bot.runbooks.files import load_runbooks
from bot.services.roles import resolving_groups, roles_of
from bot.slack.directory import SlackGroupDirectory
from bot.store import UnitOfWork
from bot.store.units import DirectUnits
from tests.transaction_guard import transaction_guard

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"


def test_the_guard_catches_a_group_look_up_inside_a_unit_and_not_outside(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    runbook = load_runbooks(RUNBOOKS).runbooks["ranking-model"]
    slack = SlackEmulator(default_seed()).start()
    try:
        units = DirectUnits(engine)
        with transaction_guard(monkeypatch) as guard:
            inside = SlackGroupDirectory(slack.client())
            held = units.run(lambda uow: roles_of(runbook, "U0DMITRI", inside, among=["oncall"]))
            assert held == {"oncall"}
            assert guard.calls == 1 and len(guard.violations) == 1
            assert "usergroups.users.list inside a transaction" in guard.violations[0]

            guard.violations.clear()
            outside = SlackGroupDirectory(slack.client())

            def attempt(groups: object) -> frozenset[str]:
                def unit(uow: UnitOfWork) -> frozenset[str]:
                    return roles_of(runbook, "U0DMITRI", groups, among=["oncall"])  # type: ignore[arg-type]

                return units.run(unit)

            assert resolving_groups(outside, attempt) == {"oncall"}
            assert guard.calls == 2 and guard.violations == []
    finally:
        slack.stop()
