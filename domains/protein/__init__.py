"""protein: alignment-derived pseudo-distance regression (issue 6)."""
