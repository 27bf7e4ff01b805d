"""Offline model work: models trained from the landed sources, saved as versioned artifacts the service scores with."""
