// Flink's streaming WordCount as Weir functions in JavaScript: the same
// three functions, names and output as the Rust example
// (functions-examples/wordcount).
//
// `tokenize` splits lines into lower-cased words (maximal runs of ASCII
// letters, digits and `_`; every other byte separates words) keyed by the
// word; `count` sums them; `format` renders `(word,count)`.

import * as weir from '@weir/sdk';

const { codecs } = weir;

/** Whether byte `b` belongs to a word: ASCII letters, digits, `_`. */
const WORD = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  WORD[b] = /[A-Za-z0-9_]/.test(c) ? 1 : 0;
}

// Bytes, not strings: non-ASCII bytes separate words, as in the Rust example.
weir.flatMap('tokenize', { input: codecs.bytes, output: codecs.u64 }, (line, ctx, out) => {
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const inWord = i < line.length && WORD[line[i]] === 1;
    if (inWord && start < 0) start = i;
    else if (!inWord && start >= 0) {
      const word = line.slice(start, i);
      for (let j = 0; j < word.length; j++) if (word[j] >= 65 && word[j] <= 90) word[j] += 32;
      out.collectKeyed(word, 1);
      start = -1;
    }
  }
});

weir.reduce('count', { codec: codecs.u64 }, (total, n) => total + n);

weir.flatMap('format', { input: codecs.u64 }, (n, ctx, out) => {
  out.collect(`(${ctx.keyStr},${n})`);
});
