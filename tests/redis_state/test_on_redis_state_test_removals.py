from tests.functional.test_removals import *  # noqa: F403
