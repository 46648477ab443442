"""Per-form webhook endpoints, signed deliveries and their log."""
