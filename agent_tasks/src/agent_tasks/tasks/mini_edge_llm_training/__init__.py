"""The task `mini_edge_llm_training`: a gpt2-xs-sized edge model."""
