SELECT json_size('{"x": {"a": 1, "b": 2}}', '$.x'),
       json_size('{"x": [1, 2, 3]}', '$.x'),
       json_size('{"x": {"a": 1, "b": 2}}', '$.x.a')