SELECT regexp_extract('1a 2b 14m', '\d+'),
       regexp_extract('1a 2b 14m', '(\d+)([a-z]+)', 2),
       regexp_like('1a 2b 14m', '\d+b')