"""The MLRC-Bench task `mlrc_backdoor_trigger_recovery`: its spec and prompt."""
