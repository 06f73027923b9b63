"""The task `mini_baby_lm`: a gpt2-xs-sized model from BabyLM Strict-Small."""
