"""Assets of the `mlrc_backdoor_trigger_recovery` task: its prompt."""
