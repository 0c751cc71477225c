"""Turn findings into a verdict according to policy."""
