"""The task `mini_llm_merging`: merge gpt2-xs experts into one model."""
