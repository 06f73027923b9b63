"""The task `llm_merging`: merge public expert models into one."""
