"""Flink's streaming WordCount as Weir functions in Python: the same three
functions, names and output as the Rust example (functions-examples/wordcount).

``tokenize`` splits lines into lower-cased words (maximal runs of ASCII
letters, digits and ``_``; every other character separates words) keyed by
the word; ``count`` sums them; ``format`` renders ``(word,count)``.
"""

import re

import weir
from weir import codecs

_WORD = re.compile(rb"[A-Za-z0-9_]+")


@weir.flat_map(input=codecs.BYTES, output=codecs.U64)
def tokenize(line, ctx, out):
    # Bytes, not str: non-ASCII bytes separate words, as in the Rust example.
    for word in _WORD.findall(line.lower()):
        out.collect_keyed(word, 1)


@weir.reduce(codec=codecs.U64)
def count(total, n):
    return total + n


@weir.flat_map("format", input=codecs.U64, output=codecs.STRING)
def render(n, ctx, out):
    out.collect(f"({ctx.key.decode(errors='replace')},{n})")
