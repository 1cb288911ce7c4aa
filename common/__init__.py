"""Basics every stage uses, importing nothing of the project."""
