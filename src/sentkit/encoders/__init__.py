"""The user-facing model classes."""
