"""The task `math_reasoning`: autoformalize natural-language proofs in Lean 3."""
