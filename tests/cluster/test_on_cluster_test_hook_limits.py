from tests.functional.test_hook_limits import *  # noqa: F403
