"""The task `edge_llm_compression`: compress phi-2 for a 12 GB device."""
