#!/usr/bin/env python3
"""check_error_docs.py — every message DiME's sources can print is listed in docs/errors.md.

Finds the calls that print or return a message (failure(...), logf(...), fail(...), usage_error(...),
*error = ..., error_reply(...), ...) in libdime/, preload/, cli/ and tools/sim/, takes the string
literals inside them (adjacent literals joined), cuts each at its placeholders ({}, {:x}, %s), and
requires every fixed piece of two words or more to appear verbatim in docs/errors.md. The pieces
are what a user sees around the values, so a message added to the code without a line in
errors.md fails this test, naming the file and line.

Usage: check_error_docs.py SOURCE_DIR [--list]   (--list prints the pieces instead of checking)
"""
import os
import re
import sys

# Where a message starts: the call or assignment whose string literals are the message.
SINKS = [r'\bfailure\(', r'\blogf\(', r'\blog_message\(', r'(?<![\w.>])fail\(', r'\busage_error\(',
         r'\bexit_bad_config\(', r'\bexit_start_failure\(', r'\*error = ', r'\*why = ', r'\bproblem\(',
         r'\berror_reply\(', r'(?<![\w.])bad\(', r'return \{"", ', r'\bsnprintf\(', r'\bmsg \+= ']
# Files where every returned string is (part of) a message: the settings parser's phrases.
MESSAGE_FILES = {'config.cpp', 'output_path.cpp'}
RETURN_SINKS = [r'return fmt::format\(', r'return (?=")']
DIRECTORIES = ['libdime', 'preload', 'cli', 'tools/sim']
# Not messages: help texts (docs/usage.md has them), dime doctor's probe lines (documented with
# dime doctor in docs/usage.md).
SKIPPED_FILES = {'help.cpp', 'host_probe.cpp', 'log.h', 'cli.h', 'config.h'}


def read_literal(src, i):
    """The C++ string literal starting at src[i] == '"': (its text, index after it)."""
    j = i + 1
    out = []
    escapes = {'n': '\n', 't': '\t', '"': '"', '\\': '\\', "'": "'", 'r': '\r'}
    while src[j] != '"':
        if src[j] == '\\':
            nxt = src[j + 1]
            if nxt == 'x':
                m = re.match(r'[0-9a-fA-F]+', src[j + 2:])
                out.append(chr(int(m.group(0), 16)))
                j += 2 + len(m.group(0))
                continue
            out.append(escapes.get(nxt, nxt))
            j += 2
        else:
            out.append(src[j])
            j += 1
    return ''.join(out), j + 1


def literal_runs(src, start, paren):
    """String literals from `start` to the call's closing parenthesis (paren) or the statement's
    ';', adjacent ones joined into one run."""
    depth = 1 if paren else 0
    runs = []
    adjacent = False
    i = start
    while i < len(src):
        c = src[i]
        if c == '"':
            text, i = read_literal(src, i)
            if adjacent:
                runs[-1] += text
            else:
                runs.append(text)
            adjacent = True
            continue
        if c == "'":
            j = i + 1
            while src[j] != "'":
                j += 2 if src[j] == '\\' else 1
            i = j + 1
            adjacent = False
            continue
        if src.startswith('//', i):
            i = src.index('\n', i)
            continue
        if c.isspace():
            i += 1
            continue
        adjacent = False
        if paren:
            if c == '(':
                depth += 1
            elif c == ')':
                depth -= 1
                if depth == 0:
                    break
        elif c == ';':
            break
        i += 1
    return runs


def pieces(run):
    """The fixed parts of a message: cut at placeholders, trimmed of punctuation at the ends,
    kept when they hold two words or more."""
    out = []
    for piece in re.split(r'\{[^{}]*\}|%[-0-9.]*[sdzuxl]+', run):
        p = re.sub(r"^[\s:;,.'\"()]+", '', piece.strip())
        p = re.sub(r"[\s:;,'\"(]+$", '', p)
        if ' ' in p and re.search(r'[A-Za-z]{2}', p):
            out.append(p)
    return out


def collect(root):
    found = []
    for directory in DIRECTORIES:
        for dirpath, _, files in os.walk(os.path.join(root, directory)):
            for name in sorted(files):
                if not name.endswith(('.cpp', '.h')) or name in SKIPPED_FILES:
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding='utf-8') as f:
                    src = f.read()
                for sink in SINKS + (RETURN_SINKS if name in MESSAGE_FILES else []):
                    for m in re.finditer(sink, src):
                        line_start = src.rfind('\n', 0, m.start()) + 1
                        if src[line_start:m.start()].lstrip().startswith('//'):
                            continue
                        line = src.count('\n', 0, m.start()) + 1
                        for run in literal_runs(src, m.end(), src[m.end() - 1] == '('):
                            for p in pieces(run):
                                found.append((os.path.relpath(path, root), line, p))
    return found


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 1
    root = sys.argv[1]
    found = collect(root)
    if len(sys.argv) == 3 and sys.argv[2] == '--list':
        for path, line, p in found:
            print(f'{path}:{line}: {p}')
        return 0
    if len(found) < 100:
        print(f'FAIL: only {len(found)} message pieces found in the sources; is the extraction still right?')
        return 1
    with open(os.path.join(root, 'docs', 'errors.md'), encoding='utf-8') as f:
        doc = f.read().replace('\\|', '|')  # a '|' inside a table cell is written '\|'
    missing = [(path, line, p) for path, line, p in found if p not in doc]
    for path, line, p in missing:
        print(f'FAIL: {path}:{line}: "{p}" is not in docs/errors.md')
    print(f'{len(found) - len(missing)} of {len(found)} message pieces are in docs/errors.md')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
