from tests.functional.test_tier_privacy import *  # noqa: F403
