"""The networks' building blocks: the project's own layers and the loader of saved models."""
