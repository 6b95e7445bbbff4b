"""Leaderboard: committed result records (``results/``) and the static-site renderer."""
