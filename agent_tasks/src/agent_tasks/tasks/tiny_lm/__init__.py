"""The smoke task `tiny_lm`: its spec, prompt and starter files."""
