"""Read-model state in memory follows only what committed, within its bounds."""

from __future__ import annotations

from projections.state import SCHEMAS_KEPT, CommittedState


def test_a_batch_sees_its_own_values_first_and_keeps_them_only_if_it_commits() -> None:
    state: CommittedState[str, int] = CommittedState()
    state.put("g1", "a", 1)
    assert state.get("g1", "a") == 1
    state.settled("g1", committed=True)

    state.put("g1", "a", 2)
    assert state.get("g1", "a") == 2
    state.settled("g1", committed=False)
    assert state.get("g1", "a") == 1
    assert state.get("g2", "a") is None


def test_the_least_recently_used_values_are_forgotten_beyond_the_bound() -> None:
    state: CommittedState[str, int] = CommittedState(maxsize=2)
    for key, value in (("a", 1), ("b", 2)):
        state.put("g1", key, value)
    state.settled("g1", committed=True)
    assert state.get("g1", "a") == 1  # "b" is now the least recently used
    state.put("g1", "c", 3)
    state.settled("g1", committed=True)
    assert (state.get("g1", "a"), state.get("g1", "b"), state.get("g1", "c")) == (1, None, 3)


def test_state_of_schemas_no_longer_applied_to_is_dropped() -> None:
    state: CommittedState[str, int] = CommittedState()
    for n in range(SCHEMAS_KEPT + 1):
        state.put(f"g{n}", "a", n)
        state.settled(f"g{n}", committed=True)
    assert state.get("g0", "a") is None
    assert state.get(f"g{SCHEMAS_KEPT}", "a") == SCHEMAS_KEPT
