"""Development helpers: ``make run``'s demo, a throw-away Redis, starting a local server child."""
