SELECT if(1 > 2, 'yes', 'no'), if(1 > 2, 'yes'), count_if(x > 1)
FROM (VALUES (1), (2), (3)) AS t (x)