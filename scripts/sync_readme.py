"""Copy the tables that the README shares with the documentation into the README.

Each shared table is written once, in ``docs/_include/<name>.md``; the Sphinx pages include
that file, and the README holds a copy between two markers::

    <!-- BEGIN docs/_include/key_figures.md (copied by scripts/sync_readme.py: edit the source) -->
    ...
    <!-- END docs/_include/key_figures.md -->

    python scripts/sync_readme.py           # rewrite every copy from its source
    python scripts/sync_readme.py --check   # exit 1 and name the copies that differ

``tests/test_readme.py`` runs the check, so a table edited in one place only fails the suite.
Bad input (a marker without its pair, a source that does not exist) is one line on stderr
and exit code 2, with the README left as it was.
"""
import argparse
import os
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN = re.compile(r'^<!-- BEGIN (\S+) .*-->\n', re.M)
END = '<!-- END {} -->\n'
NOTE = '(copied by scripts/sync_readme.py: edit the source)'


class SyncError(ValueError):
    """The README's markers or sources are not usable; the message says which and how."""


def marker(source: str) -> str:
    """The opening marker of the copy of ``source`` (a path relative to the repository)."""
    return f'<!-- BEGIN {source} {NOTE} -->\n'


def copies(text: str):
    """``(source, start, end)`` of every copy: ``text[start:end]`` is the copied body."""
    found, pos = [], 0
    for m in BEGIN.finditer(text):
        if m.start() < pos:
            raise SyncError(f'README: {m.group(1)} starts inside another copy; close that '
                            'one with its END marker first')
        end = text.find(END.format(m.group(1)), m.end())
        if end < 0:
            raise SyncError(f'README: no "{END.format(m.group(1)).strip()}" after its BEGIN '
                            'marker; add it where the copy ends')
        found.append((m.group(1), m.end(), end))
        pos = end
    return found


def synced(text: str, root: pathlib.Path = ROOT) -> str:
    """``text`` with every copy replaced by its source's current content."""
    out, last = [], 0
    for source, start, end in copies(text):
        path = root / source
        if not path.is_file():
            raise SyncError(f'README copies {source}, which does not exist; restore it or '
                            'remove the copy and its markers')
        body = path.read_text()
        if not body.endswith('\n'):
            body += '\n'
        out += [text[last:start], body]
        last = end
    out.append(text[last:])
    return ''.join(out)


def differing(text: str, root: pathlib.Path = ROOT):
    """The sources whose copy in ``text`` is not their current content."""
    new = synced(text, root)
    old_parts = {s: text[a:b] for s, a, b in copies(text)}
    new_parts = {s: new[a:b] for s, a, b in copies(new)}
    return [s for s in old_parts if old_parts[s] != new_parts[s]]


def write_atomically(path: pathlib.Path, text: str) -> None:
    """Replace ``path`` in one rename: a crash leaves the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 if a copy differs from its source')
    parser.add_argument('--readme', type=pathlib.Path, default=ROOT / 'README.md',
                        help='the file holding the copies (default: the README)')
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text()
        stale = differing(text, ROOT)
        if args.check:
            for source in stale:
                print(f'{args.readme.name}: the copy of {source} differs from it; run '
                      'python scripts/sync_readme.py', file=sys.stderr)
            return 1 if stale else 0
        if stale:
            write_atomically(args.readme, synced(text, ROOT))
        print(f'{args.readme.name}: {len(stale)} cop{"y" if len(stale) == 1 else "ies"} '
              'updated')
        return 0
    except (SyncError, OSError) as exc:
        print(f'sync_readme: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
