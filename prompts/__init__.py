"""Versioned prompt files, shipped inside the installed package as summarizer.prompt_files."""
