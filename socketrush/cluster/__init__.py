"""Cluster-wide state shared by the nodes of one deployment (see docs/architecture.md)."""
