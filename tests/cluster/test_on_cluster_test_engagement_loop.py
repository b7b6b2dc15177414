from tests.functional.test_engagement_loop import *  # noqa: F403
