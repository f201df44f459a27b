"""Adapters carry broadcasts and queries between nodes (`local`: one node, nothing to carry)."""
