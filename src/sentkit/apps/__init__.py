"""Applications on top of embeddings: search, mining, clustering, keywords."""
