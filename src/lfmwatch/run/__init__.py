"""The run: the daily pipeline, its report and log, the daemon, status."""
