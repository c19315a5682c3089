"""The editor's view: the article with every cited span lit up beside what cites it, as a local
web app (`serve`) and as self-contained HTML reports (`report`)."""
