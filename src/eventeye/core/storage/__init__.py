"""Storage: the async engine, column types, core tables, dialect helpers, migrations."""
