"""Where data lives: the canonical tables as Parquet files in a data folder."""
