from tests.functional.test_interactions import *  # noqa: F403
