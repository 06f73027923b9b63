"""Asset folders of the built-in tasks (prompt.md and starter/ per task)."""
