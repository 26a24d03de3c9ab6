SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00'),
       date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')