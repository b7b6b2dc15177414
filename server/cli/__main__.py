"""``python -m server.cli``: the ``salon`` command."""

from server.cli.main import main

raise SystemExit(main())
