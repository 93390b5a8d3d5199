"""Printers: scalar/index expressions, matrix form, and whole derivations (text, LaTeX,
Markdown, JSON, Mermaid)."""
