"""Recommendations: parameters, the pure math both engines share, and the stage order."""
