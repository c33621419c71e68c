"""Inspection by design: how many policies to draw per stratum, and the plan that draws them."""
