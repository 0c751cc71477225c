"""Outbreak response: emergency policies, incidents, isolation, warnings, release, report."""
