"""Model families, configs, loading and the Auto classes (imported lazily by name from ``embrace``)."""
