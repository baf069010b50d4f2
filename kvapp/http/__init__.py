"""HTTP views: translate requests into store calls and store results into responses."""
