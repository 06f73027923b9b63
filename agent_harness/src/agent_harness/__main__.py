"""``python -m agent_harness``: the same commands as the ``agent-harness`` console script."""

from agent_harness.cli import main

main()
