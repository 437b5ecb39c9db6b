"""The simulator's own control plane under /__admin."""
