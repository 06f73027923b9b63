"""Shared starter files of the gpt2-xs mini tasks: a runnable GPT-2 training script."""
