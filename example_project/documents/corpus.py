"""A real text corpus available offline: the docstrings of the installed standard library.

One document per importable public module and per public class or function it defines,
in a stable order, so every run on the same Python gives the same corpus. Modules that do
something when imported (open a browser, print, start a GUI) are never imported.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import sys
import warnings
import zlib
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

# Never imported: side effects on import, GUI toolkits, test suites, platform-only or noisy.
SKIP = frozenset(
    """antigravity this idlelib tkinter turtle turtledemo test lib2to3 ensurepip venv
    pydoc_data distutils readline msilib msvcrt winreg winsound nt pty tty curses
    encodings site sitecustomize usercustomize xxlimited xxlimited_35 xxsubtype
    sre_compile sre_constants sre_parse asynchat asyncore imp smtpd""".split()  # noqa: SIM905
)

# The chapters of the standard library's documentation, coarsely.
TOPICS = {
    "text": "string re difflib textwrap unicodedata stringprep rlcompleter",
    "data-types": """datetime zoneinfo calendar collections heapq bisect array weakref types copy
        pprint reprlib enum graphlib""",
    "numbers": "numbers math cmath decimal fractions random statistics",
    "functional": "itertools functools operator",
    "files": "pathlib fileinput stat filecmp tempfile glob fnmatch linecache shutil",
    "persistence": "pickle copyreg shelve marshal dbm sqlite3",
    "compression": "zlib gzip bz2 lzma zipfile tarfile zipapp",
    "file-formats": "csv configparser tomllib netrc plistlib",
    "crypto": "hashlib hmac secrets crypt",
    "os": """os io time argparse getopt optparse logging getpass platform errno ctypes
        posixpath ntpath genericpath shlex posix fcntl grp pwd spwd resource termios nis
        syslog""",
    "concurrency": "threading multiprocessing concurrent subprocess sched queue contextvars",
    "networking": "asyncio socket ssl select selectors signal mmap",
    "internet-data": "email json mailbox mimetypes base64 binascii quopri uu mailcap",
    "markup": "html xml",
    "protocols": """webbrowser wsgiref urllib http ftplib poplib imaplib smtplib uuid
        socketserver xmlrpc ipaddress nntplib telnetlib cgi cgitb""",
    "multimedia": "wave colorsys audioop aifc chunk sndhdr sunau imghdr ossaudiodev",
    "i18n": "gettext locale",
    "development": "typing pydoc doctest unittest",
    "debugging": "bdb faulthandler pdb timeit trace tracemalloc cProfile profile pstats",
    "runtime": """sys sysconfig builtins warnings dataclasses contextlib abc atexit traceback
        gc inspect __future__ code codeop""",
    "importing": "importlib zipimport pkgutil modulefinder runpy",
    "language": """ast symtable token keyword tokenize tabnanny pyclbr py_compile compileall
        dis pickletools opcode""",
    "binary-data": "codecs struct xdrlib",
}
TOPIC_OF = {module: topic for topic, names in TOPICS.items() for module in names.split()}
MIN_LENGTH = 40  # shorter docstrings say nothing worth searching


@dataclass(frozen=True)
class Entry:
    """One corpus document; the fields match ``Document``'s."""

    title: str
    content: str
    category: str
    status: str
    source: str


def category_for(module_name: str) -> str:
    """The documentation topic of a module, by its top-level package."""
    return TOPIC_OF.get(module_name.partition(".")[0], "misc")


def status_for(title: str) -> str:
    """About one document in eight is a draft, chosen by a stable hash of its title."""
    return "draft" if zlib.crc32(title.encode()) % 8 == 0 else "published"


def _public(name: str) -> bool:
    return not name.startswith("_")


def module_names() -> list[str]:
    """Public standard-library modules and submodules to read, sorted."""
    names: set[str] = set()
    for top in sorted(sys.stdlib_module_names):
        if not _public(top) or top in SKIP:
            continue
        names.add(top)
        module = _import(top)
        if module is None or not hasattr(module, "__path__"):
            continue
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{top}.", onerror=_ignore):
            parts = info.name.split(".")
            if all(_public(p) and p not in {"test", "tests"} for p in parts[1:]):
                names.add(info.name)
    return sorted(names)


def _ignore(name: str) -> None:
    pass  # a subpackage that fails to import is simply left out of the corpus


def _import(name: str):
    # Some modules warn or print on import; keep the demo's output clean.
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except (Exception, SystemExit):
            return None


def _doc(obj: object) -> str:
    # The object's own docstring: an inherited one would repeat its base's document.
    doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _members(module) -> list[tuple[str, object]]:
    exported = getattr(module, "__all__", None)
    names = exported if isinstance(exported, list | tuple) else dir(module)
    members = []
    for name in sorted({n for n in names if isinstance(n, str) and _public(n)}):
        obj = getattr(module, name, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)) and (
            _defined_in(obj, module.__name__)
        ):
            members.append((name, obj))
    return members


def _defined_in(obj: object, module_name: str) -> bool:
    """Defined here, or in a private accelerator module (``csv.reader`` lives in ``_csv``)."""
    home = getattr(obj, "__module__", None) or ""
    return home == module_name or home.lstrip("_") == module_name.rpartition(".")[2]


def _methods(cls: type) -> list[tuple[str, object]]:
    """Public methods a class defines itself (inherited ones are documented on the base)."""
    methods = []
    for name, attr in sorted(vars(cls).items()):
        if _public(name) and (
            inspect.isfunction(attr)
            or inspect.ismethoddescriptor(attr)
            or isinstance(attr, classmethod | staticmethod)
        ):
            methods.append((name, getattr(attr, "__func__", attr)))
    return methods


def _documents(module_name: str, module) -> Iterator[tuple[str, object]]:
    yield module_name, module
    for name, obj in _members(module):
        yield f"{module_name}.{name}", obj
        if isinstance(obj, type):
            for method, function in _methods(obj):
                yield f"{module_name}.{name}.{method}", function


def iter_corpus(limit: int | None = None) -> Iterator[Entry]:
    """Yield the corpus in its stable order, at most ``limit`` documents."""
    count = 0
    seen: set[str] = set()
    for module_name in module_names():
        module = _import(module_name)
        if module is None:
            continue
        for title, obj in _documents(module_name, module):
            content = _doc(obj)
            if len(content) < MIN_LENGTH or title in seen or len(title) > 200:
                continue
            seen.add(title)
            yield Entry(
                title=title,
                content=content,
                category=category_for(module_name),
                status=status_for(title),
                source=module_name,
            )
            count += 1
            if limit is not None and count >= limit:
                return
