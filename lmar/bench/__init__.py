"""Bench: speed and memory measurements. The benchmark suite (``lmar bench``), the evaluation at
scale (``lmar bench-eval``) and the fused kernel's launch sweep (``lmar tune-kernel``)."""
