"""The resume suite with the Redis room state. Pins the bug where a resumed speaker's
lingering old socket was closed 1006 instead of 4409: the new join awaited Redis, and
aiohttp's close with a receive pending dropped the connection without the close
handshake (test_a_speaker_whose_old_socket_lingers_takes_the_seat_over_at_once)."""

from tests.functional.test_resume import *  # noqa: F403
