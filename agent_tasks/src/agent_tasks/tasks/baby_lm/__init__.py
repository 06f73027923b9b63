"""The task `baby_lm`: a language model from the BabyLM Strict-Small corpus."""
