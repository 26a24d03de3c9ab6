"""DuckDB's side of `cairn bench sql`: the same questions over DuckDB's own zstd Parquet of the
records, and over the delivered log files themselves.

usage:
  duckdb_sql.py prepare LOG_DIR PARQUET
      writes PARQUET (one column per top-level record member) unless it exists; prints JSON
      {"rows": N, "event_id": ..., "access_key": ..., "day": "YYYY-MM-DD"}: values the
      questions look for, taken from the middle of the records.
  duckdb_sql.py run LOG_DIR PARQUET REPEAT [--no-files]
      reads [{"name": ..., "sql": ...}] on stdin, each SQL naming its table `{table}`; prints
      JSON [{"name", "parquet_ms": [...REPEAT runs], "parquet_rows", "files_ms", "files_rows"}]
      (the files are read once per question: a run takes about a minute).
"""
import json
import os
import sys
import time

import duckdb


def files_table(log_dir):
    return (
        "(SELECT r.* FROM (SELECT unnest(Records) AS r FROM read_json("
        f"'{log_dir}/**/*.json.gz', format = 'auto', maximum_object_size = 268435456)))"
    )


def connect():
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SET TimeZone = 'UTC'")
    return con


def timed(con, sql):
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return (time.perf_counter() - start) * 1000.0, len(rows)


def main():
    mode, log_dir, parquet = sys.argv[1], sys.argv[2], sys.argv[3]
    con = connect()
    if mode == "prepare":
        if not os.path.exists(parquet):
            con.execute(
                f"COPY (SELECT * FROM {files_table(log_dir)}) TO '{parquet}' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        table = f"read_parquet('{parquet}')"
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        event_id = con.execute(
            f"SELECT CAST(eventID AS VARCHAR) FROM {table} LIMIT 1 OFFSET {rows // 2}"
        ).fetchone()[0]
        access_key = con.execute(
            f"SELECT userIdentity.accessKeyId FROM {table} "
            f"WHERE userIdentity.accessKeyId IS NOT NULL LIMIT 1 OFFSET {rows // 3}"
        ).fetchone()[0]
        day = con.execute(
            f"SELECT strftime(eventTime, '%Y-%m-%d') FROM {table} LIMIT 1 OFFSET {rows // 2}"
        ).fetchone()[0]
        print(json.dumps({"rows": rows, "event_id": event_id, "access_key": access_key, "day": day}))
        return
    repeat = int(sys.argv[4])
    over_files = "--no-files" not in sys.argv[5:]
    questions = json.load(sys.stdin)
    out = []
    for q in questions:
        sql = q["sql"].replace("{table}", f"read_parquet('{parquet}')")
        runs = [timed(con, sql) for _ in range(repeat)]
        files_ms, files_rows = None, None
        if over_files:
            files_ms, files_rows = timed(con, q["sql"].replace("{table}", files_table(log_dir)))
        out.append({
            "name": q["name"],
            "parquet_ms": [ms for ms, _ in runs],
            "parquet_rows": runs[0][1],
            "files_ms": files_ms,
            "files_rows": files_rows,
        })
    print(json.dumps(out))


main()
