"""PACE pipeline components."""
