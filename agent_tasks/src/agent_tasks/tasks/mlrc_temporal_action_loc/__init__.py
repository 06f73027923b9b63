"""Assets of the `mlrc_temporal_action_loc` task: its prompt."""
