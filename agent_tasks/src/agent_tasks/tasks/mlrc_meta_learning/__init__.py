"""The MLRC-Bench task `mlrc_meta_learning`: its spec and prompt."""
