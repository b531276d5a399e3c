"""Logging with personal data masked (COMPLIANCE C11), and metrics shared by the whole process."""
