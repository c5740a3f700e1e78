"""The twin: a Brian2 network compiled into a differentiable PyTorch module."""
