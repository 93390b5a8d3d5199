"""symbp's benchmarks: peer implementations (NumPy, PyTorch, JAX, scikit-learn) and a harness.

Run ``python benchmarks/train_step.py``; see ``harness.register_impl`` to add implementations.
"""
