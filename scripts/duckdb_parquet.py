"""Writes DuckDB's zstd Parquet of the records in delivered CloudTrail log files, for
`cairn bench run` to compare sizes. Prints "<parquet bytes> <rows>".

usage: duckdb_parquet.py LOG_DIR OUT.parquet
"""
import os
import sys

import duckdb

log_dir, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(
    f"""
    COPY (
        SELECT unnest(Records, recursive := false)
        FROM read_json('{log_dir}/**/*.json.gz', format = 'auto', maximum_object_size = 268435456)
    ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
    """
)
rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
print(os.path.getsize(out), rows)
