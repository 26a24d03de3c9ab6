SELECT x.k, t.v
FROM (VALUES ('a', ARRAY[1, 2])) AS x (k, vs), UNNEST(vs) AS t (v)