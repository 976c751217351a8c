"""Developer tools: a local stand-in for `crossplane render`, and generators."""
