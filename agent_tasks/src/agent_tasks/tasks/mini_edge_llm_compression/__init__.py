"""The task `mini_edge_llm_compression`: compress gpt2-xs."""
