"""The task `mini_math_reasoning`: gpt2-xs autoformalizes into Lean 3."""
