"""The smoke task `digit_method`: its spec, prompt and the MLRC-structured starter folder."""
