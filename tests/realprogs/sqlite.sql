-- sqlite.sql — the workload of tests/realprogs/sqlite.sh: builds an in-memory database of ~120 MB
-- (400000 rows, an index, a derived table) and queries it. Deterministic output.
.bail on
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
INSERT INTO t SELECT x, (x * 2654435761) % 1000003, printf('name-%08d', (x * 7919) % 400009),
                     printf('%.*c', 150 + x % 200, char(65 + x % 26)) FROM c;
CREATE INDEX t_k ON t(k);
CREATE TABLE g AS SELECT k % 1000 AS bucket, count(*) AS n, sum(length(payload)) AS bytes FROM t GROUP BY k % 1000;
UPDATE t SET payload = upper(substr(payload, 1, 20)) || lower(substr(payload, 21)) WHERE id % 7 = 0;
DELETE FROM t WHERE id % 101 = 0;
SELECT count(*), sum(k), sum(length(payload)), min(name), max(name) FROM t;
SELECT bucket, n, bytes FROM g ORDER BY bytes DESC, bucket LIMIT 5;
SELECT id, k, name, substr(payload, 1, 24) FROM t WHERE k BETWEEN 5000 AND 5100 ORDER BY k, id;
SELECT count(*), sum(b.k) FROM t a JOIN t b ON a.k = b.id WHERE a.id % 10 = 0;
SELECT name, count(*) FROM t GROUP BY name HAVING count(*) > 1 ORDER BY name LIMIT 5;
SELECT sum(length(payload)) FROM t WHERE payload GLOB 'AAAA*';
PRAGMA integrity_check;
SELECT 'database bytes', page_count * page_size FROM pragma_page_count, pragma_page_size;
