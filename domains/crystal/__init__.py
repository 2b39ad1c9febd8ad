"""crystal: lattice-translation views for microscopy defects (issue 5)."""
