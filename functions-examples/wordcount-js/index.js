// Flink's streaming WordCount as Weir functions in JavaScript: the same
// three functions, names and output as the Rust example
// (functions-examples/wordcount).
//
// `tokenize` splits lines into lower-cased words (maximal runs of ASCII
// letters, digits and `_`; every other byte separates words, so any
// non-ASCII character does) keyed by the word; `count` sums them;
// `format` renders `(word,count)`.

import * as weir from '@weir/sdk';

const { codecs } = weir;

/** For each byte: 0 if it separates words, else the byte lower-cased. */
const WORD = new Uint8Array(256);
for (let b = 0; b < 128; b++) {
  const c = String.fromCharCode(b);
  if (/[A-Za-z0-9_]/.test(c)) WORD[b] = c.toLowerCase().charCodeAt(0);
}

// The line lower-cased, reused from line to line: words are views of it
// (`collectKeyed` copies a key at once), so a line costs no allocation.
let lower = new Uint8Array(4096);

// Bytes, not strings: the host's text lines are UTF-8, whose non-ASCII
// bytes are all >= 0x80 and so separate words, as in the Rust example.
weir.flatMap('tokenize', { input: codecs.bytes, output: codecs.u64 }, (line, ctx, out) => {
  if (line.length > lower.length) lower = new Uint8Array(line.length * 2);
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = WORD[line[i]];
    if (c !== 0) {
      lower[i] = c;
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.collectKeyed(lower.subarray(start, i), 1);
      start = -1;
    }
  }
  if (start >= 0) out.collectKeyed(lower.subarray(start, line.length), 1);
});

weir.reduce('count', { codec: codecs.u64 }, (total, n) => total + n);

weir.flatMap('format', { input: codecs.u64 }, (n, ctx, out) => {
  out.collect(`(${ctx.keyStr},${n})`);
});
