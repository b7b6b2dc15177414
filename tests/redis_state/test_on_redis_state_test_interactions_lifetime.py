from tests.functional.test_interactions_lifetime import *  # noqa: F403
