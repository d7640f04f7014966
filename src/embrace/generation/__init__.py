"""Text generation: generate() loop, logits processors, stopping criteria, beam search, streamers."""
