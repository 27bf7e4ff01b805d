"""Data quality and monitoring outputs: reports read from the marts, so drift and growth are seen, not guessed."""
