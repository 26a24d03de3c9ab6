SELECT json_extract_scalar('{"a": {"b": "c"}}', '$.a.b'),
       json_extract_scalar('{"a": {"b": "c"}}', '$.a')