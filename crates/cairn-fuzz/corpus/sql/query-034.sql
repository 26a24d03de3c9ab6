SELECT max_by(name, score), min_by(name, score)
FROM (VALUES ('a', 3), ('b', 9), ('c', 1)) AS t (name, score)