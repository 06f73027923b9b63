"""The MLRC-Bench task `mlrc_llm_merging`: its spec and prompt."""
