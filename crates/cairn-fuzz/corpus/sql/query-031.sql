SELECT element_at(ARRAY[1, 2, 3], 1),
       element_at(ARRAY[1, 2, 3], -1),
       element_at(ARRAY[1, 2, 3], 4),
       element_at(map(ARRAY['a'], ARRAY['x']), 'b')