"""Assets of the `digit_method` smoke task: prompt and the MLRC-structured starter folder."""
