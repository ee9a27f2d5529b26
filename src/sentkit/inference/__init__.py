"""How a pipeline runs over many inputs: input checks, batching, output precision."""
