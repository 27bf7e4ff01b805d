"""The loaders: raw files from DATA_DIR landed into the warehouse's `raw` schema, whole or refused, with lineage
(`python -m landing.land`)."""
