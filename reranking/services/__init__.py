"""Workflows across models. Every function takes the tenant explicitly."""
