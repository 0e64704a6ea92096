"""Plain-SQL migrations (package data): a package so setuptools ships them as one."""
