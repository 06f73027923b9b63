"""Launch a research agent for a task under a hard time limit, with only named credentials."""
