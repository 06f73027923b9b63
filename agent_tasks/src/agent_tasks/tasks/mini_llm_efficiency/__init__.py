"""The task `mini_llm_efficiency`: fine-tune gpt2-xs on open data in 8 hours."""
