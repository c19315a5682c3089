"""The editor's view: the article with every cited span lit up beside what cites it, as a local
web app (`serve`: app, its background jobs in jobs) and as self-contained HTML reports (`report`:
report); the pages are rendered from templates (views) with the cited spans marked (marks)."""

from summarizer.web.app import allowed_hosts, create_app
from summarizer.web.report import build, title_of
from summarizer.web.views import article_view, report_html

__all__ = ["allowed_hosts", "article_view", "build", "create_app", "report_html", "title_of"]
