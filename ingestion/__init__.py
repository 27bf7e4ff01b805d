"""Offline half of the platform: loaders that land raw files in the warehouse."""
