"""Analytics: summaries and time series over a form's submissions (JSON API) and the dashboard page."""
