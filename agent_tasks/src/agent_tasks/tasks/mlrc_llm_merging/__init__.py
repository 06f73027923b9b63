"""Assets of the `mlrc_llm_merging` task: its prompt."""
