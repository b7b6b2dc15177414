from tests.unit.test_room_state import *  # noqa: F403
