"""Assets of the `mlrc_meta_learning` task: its prompt."""
