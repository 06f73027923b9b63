"""The task `edge_llm_training`: an edge language model from scratch."""
