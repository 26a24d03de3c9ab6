SELECT k, v
FROM (VALUES ('a', ARRAY[1]), ('b', CAST(NULL AS INT[]))) AS x (k, vs)
CROSS JOIN UNNEST(vs) AS t (v)