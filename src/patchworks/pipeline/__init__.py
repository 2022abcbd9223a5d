"""The pipeline: config, run plan, one function per workflow step, and running them locally."""
