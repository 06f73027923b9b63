"""The task `llm_efficiency`: fine-tune an approved base model in one GPU-day."""
