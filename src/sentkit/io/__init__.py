"""Model folders on disk: where a model is found, how its files are read and written."""
