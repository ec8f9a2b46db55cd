#!/usr/bin/env python3
"""The engine's size limits: no source file over 800 lines, the Runtime itself under 600, and no
function over 80 lines outside tables (a function whose comment says it is a table).

Functions are found the way clang-format lays them out in this tree: a definition starts at
column 0 and its body ends at the next line that starts with '}'.

Usage: check_sizes.py ENGINE_DIR"""
import pathlib
import sys

FILE_LIMIT = 800
RUNTIME_LIMIT = 600
FUNCTION_LIMIT = 80
NOT_FUNCTIONS = ('namespace', '}', '#', '//', 'using', 'template', 'static_assert', 'extern "C" {')


def long_functions(path):
    lines = path.read_text().split('\n')
    start = None
    for i, line in enumerate(lines):
        if start is None:
            if line and not line[0].isspace() and not line.startswith(NOT_FUNCTIONS) \
                    and not line.rstrip().endswith(';'):
                start = i
        elif line.startswith('}'):
            length = i - start + 1
            comment = lines[start - 1] if start > 0 else ''
            if length > FUNCTION_LIMIT and 'a table' not in comment:
                yield start + 1, length, lines[start].strip()
            start = None


def main():
    engine = pathlib.Path(sys.argv[1])
    problems = []
    sources = sorted(engine.glob('*.cpp')) + sorted(engine.glob('*.h'))
    if len(sources) < 10:
        problems.append(f'{engine}: expected the engine sources, found {len(sources)} files')
    for path in sources:
        n = len(path.read_text().split('\n')) - 1
        limit = RUNTIME_LIMIT if path.name == 'runtime.cpp' else FILE_LIMIT
        if n > limit:
            problems.append(f'{path.name}: {n} lines (limit {limit}): split it by concept')
        if path.suffix == '.cpp':
            for line, length, head in long_functions(path):
                problems.append(f'{path.name}:{line}: function of {length} lines (limit '
                                f'{FUNCTION_LIMIT}): {head[:60]}')
    for p in problems:
        print(p)
    print(f'{len(sources)} engine files checked, {len(problems)} over the limits')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
