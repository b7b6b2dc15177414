from tests.functional.test_webhooks import *  # noqa: F403
