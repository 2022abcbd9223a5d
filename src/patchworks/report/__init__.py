"""The run's report: pictures of the result and the seam check."""
