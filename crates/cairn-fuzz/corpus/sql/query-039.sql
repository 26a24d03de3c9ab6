SELECT any_match(ARRAY[5, -6, 7], x -> x > 0),
       all_match(ARRAY[5, -6, 7], x -> x > 0),
       none_match(ARRAY[-5, -6], x -> x > 0)