"""``python -m loadtest``: run a scenario or list scenarios.

    python -m loadtest run SCENARIO --url URL [--members N] [--rate R] [--duration S]
    python -m loadtest run SCENARIO --spawn-server …
    python -m loadtest scenarios

The fan-out benchmark is ``python -m benchmarks.fanout`` (``make bench``).

The fan-out benchmark runs server code in its own process: it is a benchmark
(``make bench``), not a load test. See docs/loadtest.md.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from loadtest import cli

    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Drive realistic sessions against a Salon server and report what it saw.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cli.add_run_arguments(commands.add_parser("run", help="run a scenario"))
    commands.add_parser("scenarios", help="list the built-in scenarios")
    args = parser.parse_args(argv)
    if args.command == "scenarios":
        return cli.list_scenarios()
    return cli.run_command(args, argv)


if __name__ == "__main__":
    sys.exit(main())
