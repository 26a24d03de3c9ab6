SELECT any_match(ARRAY[-1, NULL], x -> x > 0),
       all_match(ARRAY[1, NULL], x -> x > 0),
       any_match(filter(ARRAY[1], x -> false), x -> true)