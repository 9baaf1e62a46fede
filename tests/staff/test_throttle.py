"""Sign-in throttling: five failures in fifteen minutes pause sign-in for a while."""

from __future__ import annotations

from datetime import timedelta

from integrations.staff.throttle import SignInThrottle, throttled_message

from .conftest import FakeClock


async def fail(throttle: SignInThrottle, times: int, username: str, address: str | None) -> None:
    for _ in range(times):
        await throttle.record_failure(username, address)


async def test_five_failures_for_a_username_pause_it(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    await fail(throttle, 4, "alice", "10.0.0.1")
    assert await throttle.retry_after("alice", "10.0.0.1") is None
    clock.advance(minutes=2)
    await throttle.record_failure("alice", "10.0.0.2")
    # From anywhere, the username is paused until its oldest counted failure is 15 min old.
    wait = await throttle.retry_after("ALICE", "10.0.0.9")
    assert wait == timedelta(minutes=13)
    assert await throttle.retry_after("bob", "10.0.0.9") is None
    clock.advance(minutes=12, seconds=59)
    assert await throttle.retry_after("alice", None) == timedelta(seconds=1)
    clock.advance(seconds=1)
    assert await throttle.retry_after("alice", None) is None


async def test_five_failures_from_one_address_pause_every_username_from_it(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):
        await throttle.record_failure(name, "192.0.2.7")
    assert await throttle.retry_after("someone-else", "192.0.2.7") == timedelta(minutes=15)
    assert await throttle.retry_after("someone-else", "192.0.2.8") is None


async def test_failures_older_than_the_window_do_not_count(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    await fail(throttle, 4, "carol", None)
    clock.advance(minutes=15)
    await fail(throttle, 4, "carol", None)
    assert await throttle.retry_after("carol", None) is None


async def test_a_successful_sign_in_clears_the_username_but_not_the_address(
    throttle: SignInThrottle,
) -> None:
    await fail(throttle, 5, "dave", "198.51.100.1")
    await throttle.forget("dave")
    assert await throttle.retry_after("dave", None) is None
    assert await throttle.retry_after("dave", "198.51.100.1") is not None


def test_the_message_says_how_many_minutes_to_wait() -> None:
    assert "13 分钟后再试" in throttled_message(timedelta(minutes=12, seconds=1))
    assert "1 分钟后再试" in throttled_message(timedelta(seconds=5))
