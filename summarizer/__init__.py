"""summarizer: news articles into a searchable local corpus and cited, verified summaries."""

__version__ = "0.1.0"
