"""Assets of the `digit_sums` smoke task: prompt and starter files."""
