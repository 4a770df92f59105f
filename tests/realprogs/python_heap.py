# python_heap.py — the workload of tests/realprogs/python.sh: builds large dicts and lists (about
# 600 MB for n = 1000000), checks every entry it can recompute, and prints counts and a digest.
# Exit status 1 if any check fails. Deterministic: the same n prints the same line on every run.
import hashlib
import sys


def blob(i):
    return hashlib.sha256(i.to_bytes(8, "little")).digest() * 64  # 2 KiB, unique per key


def main():
    n = int(sys.argv[1])
    blobs = {i: blob(i) for i in range(n // 10)}                               # ~200 MB of values
    names = {f"key{i:09d}": (i * 2654435761) % 4294967296 for i in range(n)}  # 1M small entries
    rows = [(i, str(i * 7), i / 3) for i in range(n)]                         # 1M tuples
    bad = 0
    for i in range(n // 10):
        bad += blobs[i] != blob(i)
    for i in range(0, n, 3):
        bad += names[f"key{i:09d}"] != (i * 2654435761) % 4294967296
    total = 0
    for i, s, f in rows:
        total += i + len(s)
        bad += int(s) != i * 7 or f != i / 3
    h = hashlib.sha256()
    for i in range(0, n // 10, 97):
        h.update(blobs[i])
    h.update(str(total).encode())
    h.update(str(sum(names.values())).encode())
    print(n, len(blobs), len(names), len(rows), bad, h.hexdigest())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
