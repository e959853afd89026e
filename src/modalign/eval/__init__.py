"""Evaluation: pure metric functions, benchmark readers and runners."""
