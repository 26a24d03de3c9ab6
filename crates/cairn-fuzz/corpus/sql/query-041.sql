SELECT k, transform(vs, v -> v * m)
FROM (VALUES ('a', ARRAY[1, 2], 10), ('b', ARRAY[3], 2)) AS t (k, vs, m)