"""Task records as users see them: state, progress, retry and cancel."""
