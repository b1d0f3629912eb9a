"""Render stage: the one report object, written for each place a grade is read."""
