"""Assets of `llm_merging`: merge public expert models into one."""
