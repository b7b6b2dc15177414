from tests.functional.test_stage import *  # noqa: F403
