"""The MLRC-Bench task `mlrc_machine_unlearning`: its spec and prompt."""
