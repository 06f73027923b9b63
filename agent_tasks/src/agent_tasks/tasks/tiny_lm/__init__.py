"""Assets of the `tiny_lm` smoke task: prompt and starter files."""
