SELECT student, score
FROM (VALUES ('Anna', ARRAY[80, 95]), ('Ben', ARRAY[70])) AS tests (student, scores)
CROSS JOIN UNNEST(scores) AS t (score)