"""The smoke task `digit_sums`: its spec, prompt and starter files."""
