"""Assets of the `mlrc_machine_unlearning` task: its prompt."""
