"""The MLRC-Bench task `mlrc_temporal_action_loc`: its spec and prompt."""
