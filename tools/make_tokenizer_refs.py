#!/usr/bin/env python3
"""Reference fixtures for hearth's tokenizer and chat template (tests/golden/tokenizer/).

Two steps, so that the inputs are reviewable and the HF run is short:

  gen   (anywhere, stdlib only): writes the inputs, deterministically (fixed seeds):
          corpus.jsonl   texts to encode ({"name", "text"} or {"name", "hex"} for bytes that
                         are not valid UTF-8, encoded as Python decodes them with "replace")
          decode.jsonl   id sequences to decode ({"name", "ids", "skip_special"})
          chat.jsonl     conversations ({"name", "template", "messages", "tools"?,
                         "add_generation_prompt", "enable_thinking"?})
          qwen3_thinking_2507.jinja   the Qwen3-*-Thinking-2507 variant of the template,
                         derived from ../shared's Qwen3 template by the 2507 edits below
          bench/prose.txt, bench/code.txt   benchmark samples (generated prose; repo code)
        python3 tools/make_tokenizer_refs.py gen --shared ../shared

  refs  (where `tokenizers` and `transformers` are installed, e.g. the H200 box): adds HF's
        answers ("ids", "text", or "error") to each input and writes them, with Unicode
        tables (HF's pre-tokenizer class and NFC of every code point), added-token flag
        cases on a patched tokenizer (variants.jsonl) and a large random stress set, to --out:
        python3 tools/make_tokenizer_refs.py refs --tokenizer DIR --out OUT
        then copy OUT/{corpus,decode,chat,variants}.jsonl, OUT/unicode_*.txt and the first
        800 lines of OUT/stress.jsonl.gz (as stress.jsonl) here.

  probe (same machine): HF's NFC on every combining mark (probe_ccc.txt), HF's single_word
        word characters (probe_word.txt), and fresh stress strings and conversations (new
        seeds) to re-check against: python3 tools/make_tokenizer_refs.py probe --tokenizer DIR --out OUT

  cxx   (here): regenerates src/hearth/tokenizer/unicode_hf_data.inc from unicode_classes.txt,
        probe_ccc.txt and probe_word.txt (needs libutf8proc): python3 tools/make_tokenizer_refs.py cxx

The tokenizer directory must hold tokenizer.json and tokenizer_config.json (Qwen3's).
"""
import argparse
import gzip
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(ROOT, "tests", "golden", "tokenizer")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------
# gen: inputs
# ---------------------------------------------------------------------------------------

MULTILINGUAL = [
    ("en", "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we'll see."),
    ("de", "Äpfel, Bäume und Straßen: Größenordnung übermäßig. Der Fußgänger geht."),
    ("fr", "L'été dernier, à Noël, où êtes-vous allés ? Ça coûte 12,50 €."),
    ("es", "¿Dónde está la biblioteca? ¡Mañana será otro día! Año, niño, pingüino."),
    ("ru", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("el", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Άλφα, ΐ, ΰ."),
    ("ar", "مرحبا بالعالم! هذا اختبار للنص العربي مع أرقام ١٢٣٤٥."),
    ("he", "שלום עולם, זהו מבחן. הַשָּׁמַיִם"),
    ("hi", "नमस्ते दुनिया। यह हिन्दी पाठ है, अंक ०१२३४५६७८९।"),
    ("bn", "আমি বাংলায় গান গাই। ১২৩"),
    ("ta", "வணக்கம் உலகம், இது தமிழ் உரை."),
    ("th", "สวัสดีชาวโลก นี่คือการทดสอบภาษาไทย ๑๒๓"),
    ("km", "កាន់តែពិសេសអាចខលចេញ"),
    ("zh", "我想在苹果公司工作。今天天气很好，我们去公园散步吧！"),
    ("ja", "日本語のテキストです。カタカナとひらがな、漢字が混ざっています。ｶﾀｶﾅ"),
    ("ko", "안녕하세요, 세계! 한국어 텍스트입니다."),
    ("vi", "Tiếng Việt có nhiều dấu: người, được, những, Nguyễn."),
    ("tr", "İstanbul'da ılık bir gün. IĞDIR ığdır"),
    ("ka", "გამარჯობა მსოფლიო"),
    ("hy", "Բարեւ աշխարհ"),
    ("am", "ሰላም ልዑል"),
    ("mixed", "Hello 世界! Привет 🌍 مرحبا שלום नमस्ते 123 ４５６"),
]

CODE = [
    ("py", "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n"),
    ("cpp", "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;  // double\n\treturn v[0] != 2;\n}\n"),
    ("json", '{"name": "hearth", "version": [0, 1], "nested": {"a": null, "b": true, "c": -1.5e-3}}'),
    ("html", "<!DOCTYPE html>\n<html><head><title>T&amp;T</title></head>\n<body><p class=\"x\">Hi</p></body></html>"),
    ("sh", "#!/bin/sh\nset -eu\nfor f in *.txt; do\n  wc -l \"$f\" | awk '{print $1}'\ndone 2>&1 >/dev/null\n"),
    ("sql", "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total >= 100.00 GROUP BY u.id;"),
    ("regex", r"^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@\w+\.\w{2,}$"),
    ("rust", "fn main() -> Result<(), Box<dyn Error>> {\n    let s: &str = \"x\";\n    println!(\"{s:?}\");\n    Ok(())\n}\n"),
    ("makefile", "all: build\n\nbuild:\n\t$(CC) -O2 -o $@ $^ $(LDFLAGS)\n\n.PHONY: all build\n"),
    ("diff", "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n-int a = 1;\n+int a = 2;\n \n"),
]

WHITESPACE = [
    ("spaces", "a  b   c    d     e"),
    ("lead_trail", "   leading and trailing   "),
    ("tabs", "\tx\t\ty\t\t\tz\t"),
    ("mixed_ws", " \t \n \t\n\n \r\n\t \u00a0 \u3000x\u2028y\u2029z\u0085w"),
    ("newlines", "line1\nline2\n\nline4\n\n\n"),
    ("crlf", "first line\r\nsecond line\r\n\r\nfourth\r\n"),
    ("cr_only", "a\rb\r\rc"),
    ("space_newline", "x \n y  \n\n  z   \r\n"),
    ("only_spaces", "        "),
    ("only_newlines", "\n\n\n\n"),
    ("nbsp_words", "word\u00a0word \u00a0word\u00a0 word"),
    ("vertical", "a\x0bb\x0cc\x1cd\x1fe"),
    ("ws_before_punct", "x   !!!  ???\n\n..."),
    ("ws_end_text", "end with spaces   "),
    ("single_space_letter", " a  b"),
]

EMOJI = [
    ("zwj_family", "👨\u200d👩\u200d👧\u200d👦 family"),
    ("zwj_fog", "😶\u200d🌫️ face in clouds"),
    ("skin_tones", "👍🏻👍🏼👍🏽👍🏾👍🏿"),
    ("flags", "🇺🇸🇯🇵🇩🇪 flags"),
    ("keycaps", "1️⃣ 2️⃣ #️⃣"),
    ("rocket", "🚀 (normal) ✅ 🦙🦙"),
    ("emoji_text", "I ❤️ tokenizers! 🎉🎉🎉 Done."),
    ("rainbow_flag", "🏳️\u200d🌈"),
]

COMBINING = [
    ("e_acute_decomposed", "Cafe\u0301 re\u0301sume\u0301"),
    ("vi_decomposed", "Vie\u0323\u0302t Nam, ngu\u031bo\u031b\u0300i"),
    ("hangul_jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af"),
    ("greek_dialytika", "\u03b9\u0308\u0301 \u03c5\u0308\u0301"),
    ("mark_order", "a\u0323\u0307 a\u0307\u0323 q\u0307\u0323"),
    ("singletons", "\u212b \u2126 \u212a \u0340\u0341"),
    ("exclusions", "\u0958\u0959 \ufb1d \u2adc"),
    ("many_marks", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L"),
    ("lone_marks", "\u0301\u0302 \u0308x"),
    ("angstrom_compose", "A\u030a \u00c5 \u212b"),
    ("devanagari_nukta", "\u0915\u093c \u0958"),
    ("tamil_vowel", "\u0b92\u0bd7 \u0bc6\u0bbe"),
]

DIGITS = [
    ("ascii_digits", "3 33 333 3333 33333 333333 3.3 3..3 3...3 1,000,000"),
    ("arabic_indic", "٠١٢٣٤٥٦٧٨٩ and ۰۱۲۳"),
    ("devanagari_digits", "०१२३४५६७८९"),
    ("fullwidth", "０１２３４５６７８９ ＡＢＣ"),
    ("superscripts", "x² + y³ = z¹⁰ H₂O"),
    ("fractions", "½ ⅓ ¼ ¾ ⅞"),
    ("roman", "Ⅻ ⅻ Ⅳ ↀ"),
    ("circled", "① ② ⑳ ㉑ ⓵"),
    ("thai_digits", "๐๑๒๓"),
    ("mixed_num_letters", "abc123def4g5 x1y2z3 ١a٢b"),
    ("math_digits", "𝟘𝟙𝟚 𝟎𝟏"),
]

SPECIAL = [
    ("im_tokens", "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"),
    ("think", "<think>\nreasoning here\n</think>\n\nanswer"),
    ("adjacent", "<|im_end|><|im_end|><|endoftext|>"),
    ("partial", "<|im_ <|im_end| |im_end|> <|im_end"),
    ("nested", "<<|im_end|>> <<think>>"),
    ("in_word", "abc<|im_end|>def"),
    ("spaces_around", "  <|im_end|>  x  <tool_call>  "),
    ("tool_tokens", "<tool_call>\n{\"name\": \"f\"}\n</tool_call><tool_response>ok</tool_response>"),
    ("fim", "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>"),
    ("vision", "<|vision_start|><|image_pad|><|vision_end|>"),
    ("case", "<|IM_END|> <|Im_End|>"),
    ("endoftext_mid", "before<|endoftext|>after"),
]

CONTRACTIONS = [
    ("basic", "it's I'm you're we've they'll he'd isn't"),
    ("upper", "IT'S I'M YOU'RE WE'VE THEY'LL HE'D"),
    ("mixed_case", "It'S i'M you'Re we'Ve they'Ll he'D 'LL 'lL"),
    ("curly", "it’s you’re don’t"),
    ("long_s", "it'ſ 'ſ"),
    ("lig", "'ﬅ 'ﬆ"),
    ("lone", "' '' ''' 's 't 'x 're 'rx"),
    ("digits_after", "'99 '1s"),
    ("kelvin", "'K 'k 'K"),
]

PUNCT = [
    ("punct_runs", "Wait... what?! (really) [yes] {no} <maybe> \"quoted\" 'single'"),
    ("punct_newline", "end.\n\nnext!\r\n\r\nmore?\n"),
    ("symbols", "© ® ™ § ¶ † ‡ • … ‰ ′ ″ ‹ › « » ¿ ¡ € £ ¥ ¢ ₹ ₿"),
    ("math", "∀x∈ℝ: x² ≥ 0 ∧ √4 = 2 ≠ ∞ ≈ π"),
    ("arrows_box", "→ ← ↑ ↓ ⇒ ─│┌┐└┘ ░▒▓█"),
    ("urls", "https://example.com/path?q=1&r=2#frag mailto:a@b.c"),
    ("underscores", "snake_case __dunder__ _private CONSTANT_NAME"),
    ("dashes", "a-b a–b a—b a−b --flag ---"),
]


def long_runs():
    return [
        ("long_a", "a" * 5000),
        ("long_spaces", " " * 3000),
        ("long_newlines", "\n" * 2000),
        ("long_digits", "1234567890" * 300),
        ("long_bang", "!" * 2000),
        ("long_word_space", "x " * 2000),
        ("long_cjk", "我" * 2000),
        ("long_emoji", "😀" * 500),
        ("long_mixed_ws", " \t" * 1000 + "end"),
        ("long_tabs_newline", "\t" * 500 + "\n" + "\t" * 500),
        ("long_crlf", "\r\n" * 1000),
        ("long_word", "pneumonoultramicroscopicsilicovolcanoconiosis" * 40),
        ("long_marks", "a" + "\u0301" * 1000),
        ("long_apostrophes", "'s" * 1000),
    ]


INVALID_BYTES = [
    ("lone_continuation", b"abc\x80def"),
    ("truncated_2", b"abc\xc3"),
    ("truncated_3", b"x\xe2\x82 y"),
    ("truncated_4", b"\xf0\x9f\x98 z"),
    ("overlong_2", b"\xc0\x80\xc1\xbf"),
    ("overlong_3", b"\xe0\x80\x80"),
    ("surrogate", b"\xed\xa0\x80\xed\xbf\xbf"),
    ("too_big", b"\xf4\x90\x80\x80 \xf5\x80\x80\x80"),
    ("ff_fe", b"\xff\xfe\xfd"),
    ("mixed_valid", b"caf\xc3\xa9 \xe9t\xe9 \xe2\x82\xac \xe2\x82"),
    ("with_special", b"\xc3<|im_end|>\xa9"),
    ("truncated_at_end_emoji", "hello 😀".encode()[:-1]),
    ("many_bad", bytes(range(0x80, 0x100))),
    ("nul_bytes", b"a\x00b\x00\x00c"),
]

# Characters the random mixes draw from: every class of the split regex, the contraction
# letters, CR/LF, marks, ZWJ, emoji, added tokens.
INTERESTING = (
    list(" \t\n\r\x0b\x0c\u00a0\u3000\u2028\u0085") + list("'sStTrReEvVmMlLdD") + list("aZé") +
    list("0123456789٣४") + list("!?.,;:-_()[]{}\"#@$%^&*+=/\\|~`<>") +
    ["\u0301", "\u0308", "\u0323", "\u093c", "\u200d", "\ufe0f", "😀", "🦙", "👍🏽", "我", "ſ", "ﬆ",
     "\u1100", "\u1161", "\u11a8", "가", "Ⅻ", "½", "²", "<|im_end|>", "<think>", "<|im_start|>",
     "<|endoftext|>", "</tool_call>", "\u212b", "\u0958", "ｶ", "ﾞ", "\U00010400", "\U0001d7d8"]
)

WORDS = ("the of and to in is it that for you was with on as have but be they not this are at "
         "from by he she we or an will my one all would there their what so up out if about who "
         "get which go me when make can like time no just him know take people into year your good "
         "some could them see other than then now look only come its over think also back after use "
         "two how our work first well way even new want because any these give day most us").split()


def random_codepoint(rng):
    while True:
        r = rng.random()
        if r < 0.35:
            cp = rng.randrange(0x20, 0x250)
        elif r < 0.7:
            cp = rng.randrange(0x250, 0x3400)
        elif r < 0.85:
            cp = rng.randrange(0x3400, 0x10000)
        else:
            cp = rng.randrange(0x10000, 0x110000)
        if not (0xD800 <= cp <= 0xDFFF):
            return chr(cp)


def random_cases(rng, n_each):
    out = []
    for i in range(n_each):
        n = rng.randrange(1, 40)
        out.append((f"random_cp_{i}", "".join(random_codepoint(rng) for _ in range(n))))
    for i in range(n_each):
        n = rng.randrange(1, 30)
        out.append((f"random_mix_{i}", "".join(rng.choice(INTERESTING) for _ in range(n))))
    for i in range(n_each):
        n = rng.randrange(1, 60)
        out.append((f"random_ascii_{i}", "".join(chr(rng.randrange(0, 128)) for _ in range(n))))
    for i in range(n_each):
        words = []
        for _ in range(rng.randrange(1, 20)):
            w = rng.choice(WORDS)
            if rng.random() < 0.2:
                w = w.capitalize()
            if rng.random() < 0.1:
                w = w.upper()
            if rng.random() < 0.15:
                w += rng.choice([",", ".", "'s", "!", "?", ":", "'ll", "\n", "\r\n", "  "])
            words.append(w)
        out.append((f"random_words_{i}", " ".join(words)))
    return out


def gen_corpus(rng):
    rows = []
    for group, cases in [("multilingual", MULTILINGUAL), ("code", CODE), ("whitespace", WHITESPACE),
                         ("emoji", EMOJI), ("combining", COMBINING), ("digits", DIGITS),
                         ("special", SPECIAL), ("contractions", CONTRACTIONS), ("punct", PUNCT),
                         ("long", long_runs())]:
        for name, text in cases:
            rows.append({"name": f"{group}/{name}", "text": text})
    for name, data in INVALID_BYTES:
        rows.append({"name": f"invalid_utf8/{name}", "hex": data.hex()})
    rows.append({"name": "empty", "text": ""})
    for name, text in random_cases(rng, 150):
        rows.append({"name": f"random/{name}", "text": text})
    return rows


def gen_decode(rng, vocab_path):
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    # The byte-level alphabet: byte b is written as the code point byte_char[b].
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_char = {b: chr(c) for b, c in zip(bs, cs)}
    byte_id = [vocab[byte_char[b]] for b in range(256)]
    n_vocab = 151669
    rows = []
    for i in range(60):
        ids = [rng.randrange(0, n_vocab) for _ in range(rng.randrange(1, 40))]
        rows.append({"name": f"random_ids_{i}", "ids": ids, "skip_special": bool(i % 2)})
    for i in range(60):
        # Raw byte tokens: mostly continuation and lead bytes, so that the joined bytes hold
        # invalid and truncated sequences.
        ids = []
        for _ in range(rng.randrange(1, 30)):
            r = rng.random()
            if r < 0.3:
                b = rng.randrange(0x80, 0xC0)
            elif r < 0.6:
                b = rng.randrange(0xC0, 0x100)
            elif r < 0.8:
                b = rng.randrange(0x20, 0x7F)
            else:
                ids.append(rng.randrange(151643, 151669))
                continue
            ids.append(byte_id[b])
        rows.append({"name": f"byte_tokens_{i}", "ids": ids, "skip_special": bool(i % 2)})
    for i, text in enumerate(["é", "😀", "我", "\U00010400", "नमस्ते"]):
        ids = [byte_id[b] for b in text.encode()]
        for cut in range(len(ids) + 1):
            rows.append({"name": f"split_char_{i}_{cut}", "ids": ids[:cut], "skip_special": False})
    rows.append({"name": "specials_kept", "ids": [151644, 872, 198, 151645, 151667, 151668], "skip_special": False})
    rows.append({"name": "specials_skipped", "ids": [151644, 872, 198, 151645, 151667, 151668], "skip_special": True})
    rows.append({"name": "empty", "ids": [], "skip_special": False})
    return rows


def gen_thinking_2507(shared):
    """The Qwen3-*-Thinking-2507 template: Qwen3's, with the 2507 edits (content used only
    when it is a string, reasoning_content only when a string, and a generation prompt that
    opens <think> itself with no enable_thinking switch)."""
    with open(os.path.join(shared, "tokenizer", "qwen3", "chat_template.jinja"), encoding="utf-8") as f:
        t = f.read()
    edits = [
        ("message.role == \"user\" and not(message.content.startswith",
         "message.role == \"user\" and message.content is string and not(message.content.startswith"),
        ("{%- for message in messages %}\n    {%- if (message.role == \"user\")",
         "{%- for message in messages %}\n    {%- if message.content is string %}\n        {%- set content = message.content %}\n"
         "    {%- else %}\n        {%- set content = '' %}\n    {%- endif %}\n    {%- if (message.role == \"user\")"),
        ("'\\n' + message.content + '<|im_end|>' + '\\n' }}", "'\\n' + content + '<|im_end|>' + '\\n' }}"),
        ("        {%- set content = message.content %}\n        {%- set reasoning_content = '' %}",
         "        {%- set reasoning_content = '' %}"),
        ("{%- if message.reasoning_content is defined and message.reasoning_content is not none %}",
         "{%- if message.reasoning_content is string %}"),
        ("            {%- if '</think>' in message.content %}\n"
         "                {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n"
         "                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n",
         "            {%- if '</think>' in content %}\n"
         "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n"
         "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"),
        ("        {{- message.content }}\n        {{- '\\n</tool_response>' }}",
         "        {{- content }}\n        {{- '\\n</tool_response>' }}"),
        ("    {{- '<|im_start|>assistant\\n' }}\n    {%- if enable_thinking is defined and enable_thinking is false %}\n"
         "        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n",
         "    {{- '<|im_start|>assistant\\n<think>\\n' }}\n"),
    ]
    for old, new in edits:
        if t.count(old) != 1:
            sys.exit(f"2507 edit does not apply exactly once: {old!r}")
        t = t.replace(old, new)
    return t


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city. Use °C or °F; \"quotes\" and \\ backslashes.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich or 東京"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "threshold": {"type": "number", "default": 0.5, "exclusiveMinimum": -273.15},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.\nReturns a list.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                         "limit": {"type": "integer", "default": 10},
                                                         "weights": {"type": "array", "items": {"type": "number"},
                                                                     "default": [1.0, 0.25, 1e-07, 1e+16, 100.0, -0.0]}},
                       "required": ["query"]},
    },
}
FLAT_TOOL = {"name": "calc", "description": "Evaluate\tan expression \u0001 ctrl", "parameters": {}}


def fixed_conversations():
    U = lambda c: {"role": "user", "content": c}
    A = lambda c, **kw: dict({"role": "assistant", "content": c}, **kw)
    S = lambda c: {"role": "system", "content": c}
    T = lambda c: {"role": "tool", "content": c}
    call = lambda name, args: {"type": "function", "function": {"name": name, "arguments": args}}
    convs = {
        "single_user": [U("Hello!")],
        "system_user": [S("You are a helpful assistant."), U("What is 2+2?")],
        "multi_turn": [S("Be brief."), U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")],
        "inline_think_history": [U("Q1"), A("<think>\nplan one\n</think>\n\nA1"), U("Q2"), A("<think>plan two</think>A2")],
        "inline_think_last": [U("Q1"), A("<think>\n\nmy reasoning\n\n</think>\n\n\nfinal answer")],
        "reasoning_content": [U("Q1"), A("A1", reasoning_content="R1"), U("Q2"), A("A2", reasoning_content="\nR2\n")],
        "reasoning_after_query": [U("Q"), A("part", reasoning_content="thinking"), U("<tool_response>\nx\n</tool_response>"), A("done", reasoning_content="")],
        "empty_reasoning_middle": [U("Q"), A("a1"), A("a2")],
        "think_no_open": [U("Q"), A("just reasoning</think>\nanswer")],
        "multiple_think_close": [U("Q"), A("<think>a</think>b</think>c")],
        "tool_call_object": [S("sys"), U("Weather in Paris?"),
                             A("", tool_calls=[call("get_weather", {"city": "Paris", "unit": "celsius", "days": 3, "threshold": 0.25, "flags": [True, False, None]})]),
                             T('{"temp": 21.5, "sky": "clear"}'), U("Thanks")],
        "tool_call_string_args": [U("Search"), A("Let me search.", tool_calls=[call("search", '{"query": "hearth engine", "limit": 5}')]),
                                  T("result 1"), T("result 2"), A("Found two results.")],
        "tool_call_flat": [U("calc"), A(None, tool_calls=[{"name": "calc", "arguments": {"expr": "1+1"}}]), T("2")],
        "multi_tool_calls": [U("Do both"), A("Sure.", tool_calls=[call("a", {"x": 1}), call("b", {"y": "ü"}), call("c", "{}")]),
                             T("ra"), T("rb"), T("rc")],
        "tool_last_no_prompt": [U("q"), A("", tool_calls=[call("f", {"k": "v"})]), T("out")],
        "multi_step_tool": [U("Start"), A("<think>step1</think>calling", tool_calls=[call("f", {})]),
                            U("<tool_response>\nok\n</tool_response>"), A("<think>step2</think>done")],
        "unicode_args": [U("日本"), A("", tool_calls=[call("translate", {"text": "Grüße, 世界 🌍", "quote": "a\"b\\c\nd", "ctrl": "\u0001\u001f\u007f", "big": 12345678901234567890, "neg": -42, "f": 1.5e300, "small": 1e-05, "exp": 1e16, "int_like": 100.0})])],
        "nested_args_order": [U("x"), A("", tool_calls=[call("g", {"z": 1, "a": {"y": [], "b": {}}, "m": [{"q": 1, "c": 2}]})])],
        "special_in_content": [U("Say <|im_end|> and <think> literally"), A("Okay: <|im_end|>")],
        "system_only": [S("Only a system prompt.")],
        "system_later": [U("hi"), S("A second system message"), A("ok")],
        "unknown_role": [{"role": "developer", "content": "ignored?"}, U("hi")],
        "assistant_last_no_think": [U("Q"), A("A without think")],
        "crlf_content": [U("line1\r\nline2\r\n"), A("reply\r\n")],
        "empty_content": [U(""), A("")],
        "tool_response_wrapped_last": [U("<tool_response>only tool</tool_response>")],
        "content_with_tool_response_prefix": [U("<tool_response>not closed"), A("x")],
    }
    return convs


def random_conversation(rng, i):
    pieces = ["Hello", "What's the weather?", "<think>\nhmm\n</think>\n\nSure", "Answer.", "  spaced  ",
              "multi\nline\n", "ünïcödé 日本語", "<tool_response>\nr\n</tool_response>", "", "</think>x",
              "\n\nleading newlines", "trailing newlines\n\n", "emoji 🎉", "a<think>b</think>c"]
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": rng.choice(pieces)})
    for _ in range(rng.randrange(1, 7)):
        role = rng.choice(["user", "assistant", "assistant", "tool", "user"])
        m = {"role": role, "content": rng.choice(pieces)}
        if role == "assistant":
            if rng.random() < 0.3:
                m["reasoning_content"] = rng.choice(["r", "\nreason\n", "", "deep thought"])
            if rng.random() < 0.3:
                args = rng.choice([{"a": 1}, '{"s": "x"}', {"n": [1, 2.5, None]}, {}])
                calls = [{"type": "function", "function": {"name": rng.choice(["f", "g_h"]), "arguments": args}}
                         for _ in range(rng.randrange(1, 3))]
                m["tool_calls"] = calls
        msgs.append(m)
    return msgs


def gen_chat(rng):
    rows = []
    convs = fixed_conversations()
    for template in ["qwen3", "qwen3-thinking-2507"]:
        for name, msgs in convs.items():
            has_none = any(m.get("content") is None for m in msgs)
            if has_none and template == "qwen3":
                continue  # transformers raises on null content with the Qwen3 template
            for agp in [True, False]:
                for et in ([None, True, False] if template == "qwen3" else [None]):
                    row = {"name": f"{template}/{name}/agp={int(agp)}/think={et}", "template": template,
                           "messages": msgs, "add_generation_prompt": agp}
                    if et is not None:
                        row["enable_thinking"] = et
                    rows.append(row)
        for tools_name, tools in [("weather", [WEATHER_TOOL]), ("two", [WEATHER_TOOL, SEARCH_TOOL]), ("flat", [FLAT_TOOL])]:
            for name in ["single_user", "system_user", "tool_call_object", "multi_tool_calls"]:
                rows.append({"name": f"{template}/tools_{tools_name}/{name}", "template": template,
                             "messages": convs[name], "tools": tools, "add_generation_prompt": True})
        rows.append({"name": f"{template}/tools_empty/single_user", "template": template,
                     "messages": convs["single_user"], "tools": [], "add_generation_prompt": True})
        for i in range(60):
            msgs = random_conversation(rng, i)
            row = {"name": f"{template}/random_{i}", "template": template, "messages": msgs,
                   "add_generation_prompt": rng.random() < 0.7}
            if template == "qwen3" and rng.random() < 0.5:
                row["enable_thinking"] = rng.random() < 0.5
            if rng.random() < 0.2:
                row["tools"] = [SEARCH_TOOL]
            rows.append(row)
    return rows


PROSE_WORDS = (WORDS + (
    "time person year way day thing man world life hand part child eye woman place work week case "
    "point government company number group problem fact be have do say get make go know take see "
    "come think look want give use find tell ask work seem feel try leave call good new first last "
    "long great little own other old right big high different small large next early young important "
    "few public bad same able to of in for on with at by from up about into over after beneath under "
    "above the a an this that these those engine model token memory kernel batch request server cache "
    "latency throughput queue schedule block page prefix attention layer weight matrix vector bandwidth "
    "careful quickly slowly however therefore although because while since unless whether river "
    "mountain village morning evening winter summer letter window garden kitchen market history story "
    "question answer reason method result system program question interest experience education "
    "Monday London Paris December Alice Bob Marie Tokyo").split())


def gen_prose(rng, size):
    # Zipf-like word choice over a fixed vocabulary; sentences with commas, quotes,
    # parentheses, numbers and paragraph breaks, so that the pre-token mix resembles prose.
    weights = [1.0 / (i + 1) ** 1.05 for i in range(len(PROSE_WORDS))]
    out = []
    total = 0
    while total < size:
        para = []
        for _ in range(rng.randrange(3, 9)):
            n = rng.randrange(6, 28)
            words = rng.choices(PROSE_WORDS, weights, k=n)
            words[0] = words[0].capitalize()
            for k in range(1, n - 1):
                r = rng.random()
                if r < 0.06:
                    words[k] += ","
                elif r < 0.075:
                    words[k] = f"({words[k]})"
                elif r < 0.085:
                    words[k] = str(rng.randrange(1, 2030))
                elif r < 0.095:
                    words[k] += "'s"
                elif r < 0.1:
                    words[k] = f"\"{words[k]}\""
            s = " ".join(words) + rng.choice([".", ".", ".", "?", "!", ";", ":"])
            para.append(s)
        p = " ".join(para)
        out.append(p)
        total += len(p) + 2
    return "\n\n".join(out)[:size] + "\n"


def gen_code_sample(size):
    files = []
    for base in ["src", "apps", "tools", "tests"]:
        for dirpath, _, names in os.walk(os.path.join(ROOT, base)):
            for n in names:
                if n.endswith((".h", ".cpp", ".py", ".cu", ".cuh", ".cmake")) or n == "CMakeLists.txt":
                    files.append(os.path.join(dirpath, n))
    files.sort()
    parts = []
    total = 0
    for p in files:
        if "golden" in p:
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            t = f.read()
        parts.append(t)
        total += len(t.encode())
        if total >= size:
            break
    data = "".join(parts).encode()[:size]
    return data.decode("utf-8", errors="ignore")


def cmd_gen(args):
    rng = random.Random(20250517)
    os.makedirs(GOLDEN, exist_ok=True)
    write_jsonl(os.path.join(GOLDEN, "corpus.jsonl"), gen_corpus(rng))
    write_jsonl(os.path.join(GOLDEN, "decode.jsonl"),
                gen_decode(rng, os.path.join(args.shared, "tokenizer", "qwen3", "vocab.json")))
    write_jsonl(os.path.join(GOLDEN, "chat.jsonl"), gen_chat(rng))
    with open(os.path.join(GOLDEN, "qwen3_thinking_2507.jinja"), "w", encoding="utf-8") as f:
        f.write(gen_thinking_2507(args.shared))
    # The benchmark samples are kept (figures stay comparable) unless asked for.
    os.makedirs(os.path.join(GOLDEN, "bench"), exist_ok=True)
    if args.bench or not os.path.exists(os.path.join(GOLDEN, "bench", "prose.txt")):
        with open(os.path.join(GOLDEN, "bench", "prose.txt"), "w", encoding="utf-8") as f:
            f.write(gen_prose(random.Random(7), 400_000))
        with open(os.path.join(GOLDEN, "bench", "code.txt"), "w", encoding="utf-8") as f:
            f.write(gen_code_sample(400_000))
    print("wrote inputs to", GOLDEN, "(without HF answers: run `refs` next and copy its output here)")


# ---------------------------------------------------------------------------------------
# refs: HF answers (run where tokenizers/transformers are installed)
# ---------------------------------------------------------------------------------------

def probe_classes(tk):
    """HF's view of every code point through the Qwen2 split regex, from three probes:
    c+'a', '!'+c and c+'!' split into (J)oined or (S)eparate pieces:
    L=JJS N=SSS O=JJJ S(pace)=JSS or SSS for CR/LF, ' '=JSJ."""
    pre = tk.pre_tokenizer
    runs = []
    prev = None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            cls = "O"
        else:
            c = chr(cp)
            a = len(pre.pre_tokenize_str(c + "a")) == 1
            b = len(pre.pre_tokenize_str("!" + c)) == 1
            d = len(pre.pre_tokenize_str(c + "!")) == 1
            key = (a, b, d)
            if c in "\r\n":
                cls = "S"
            else:
                cls = {(True, True, False): "L", (False, False, False): "N", (True, True, True): "O",
                       (True, False, False): "S", (True, False, True): "S"}.get(key, "?" + "".join("JS"[not x] for x in key))
        if cls != prev:
            runs.append(f"{cp:X} {cls}")
            prev = cls
    return runs


def nfc_table(tk):
    import unicodedata
    norm = tk.normalizer
    lines = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        r = norm.normalize_str(c)
        if r != c:
            lines.append(f"{cp:X} " + " ".join(f"{ord(x):X}" for x in r))
        d = unicodedata.normalize("NFD", c)
        if d != c and (cp < 0xAC00 or cp > 0xD7A3 or cp % 97 == 0):
            r2 = norm.normalize_str(d)
            lines.append("D " + " ".join(f"{ord(x):X}" for x in d) + " > " + " ".join(f"{ord(x):X}" for x in r2))
    return lines


def stress_strings(rng, n):
    out = []
    for i in range(n):
        r = rng.random()
        k = rng.randrange(1, 80)
        if r < 0.4:
            s = "".join(rng.choice(INTERESTING) for _ in range(k))
        elif r < 0.7:
            s = "".join(random_codepoint(rng) for _ in range(k))
        else:
            s = "".join(rng.choice(INTERESTING) if rng.random() < 0.5 else random_codepoint(rng) for _ in range(k))
        out.append(s)
    return out


# Added-token flags Qwen3 does not use, exercised on a patched copy of its tokenizer.json.
# The C++ test applies the same patch (read from the first line of variants.jsonl).
VARIANT_PATCH = {
    "set": [
        {"id": 151645, "lstrip": True, "rstrip": True},          # <|im_end|>
        {"id": 151667, "single_word": True},                     # <think>
        {"id": 151668, "lstrip": True},                          # </think>
    ],
    "append": [
        {"id": 151669, "content": "e\u0301x", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": True, "special": False},
        {"id": 151670, "content": "<|im_end|>X", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": 151671, "content": "ABC", "single_word": True, "lstrip": False, "rstrip": True,
         "normalized": False, "special": False},
    ],
}

VARIANT_TEXTS = [
    "a <|im_end|> b", "a<|im_end|>b", "  <|im_end|>  ", "\t<|im_end|>\n\nx", "<|im_end|>X and <|im_end|>Y",
    "<think> x", "a<think>b", "a <think> b", "_<think>_", "1<think>", "é<think>", " <think>", "\u00e9<think>",
    "x </think> y", "x\n\n</think>", "<|im_end|></think>", "e\u0301x", "\u00e9x", "ee\u0301xx", "e\u0301 x",
    "ABC", "xABC", "ABC x", "ABCx", " ABC   y", "ABC\u0301", "A_ABC", "-ABC-", "ABCABC", "<|im_end|>ABC",
]


def variant_file(base_json_path, patch):
    with open(base_json_path, encoding="utf-8") as f:
        j = json.load(f)
    by_id = {t["id"]: t for t in j["added_tokens"]}
    for s in patch["set"]:
        by_id[s["id"]].update({k: v for k, v in s.items() if k != "id"})
    j["added_tokens"].extend(patch["append"])
    return j


def cmd_refs(args):
    import tokenizers
    import transformers
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    tk = tokenizers.Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    info = {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
            "python": sys.version}

    def enc(text):
        return tk.encode(text, add_special_tokens=False).ids

    rows = read_jsonl(os.path.join(GOLDEN, "corpus.jsonl"))
    for r in rows:
        text = r["text"] if "text" in r else bytes.fromhex(r["hex"]).decode("utf-8", errors="replace")
        r["ids"] = enc(text)
    write_jsonl(os.path.join(args.out, "corpus.jsonl"), rows)

    rows = read_jsonl(os.path.join(GOLDEN, "decode.jsonl"))
    for r in rows:
        try:
            r["text"] = tk.decode(r["ids"], skip_special_tokens=r["skip_special"])
        except Exception as e:  # noqa: BLE001
            r["error"] = repr(e)
    write_jsonl(os.path.join(args.out, "decode.jsonl"), rows)

    hf = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    with open(os.path.join(GOLDEN, "qwen3_thinking_2507.jinja"), encoding="utf-8") as f:
        t2507 = f.read()
    rows = read_jsonl(os.path.join(GOLDEN, "chat.jsonl"))
    errors = 0
    for r in rows:
        kw = {"add_generation_prompt": r["add_generation_prompt"], "tokenize": False}
        if "enable_thinking" in r:
            kw["enable_thinking"] = r["enable_thinking"]
        if "tools" in r:
            kw["tools"] = r["tools"]
        if r["template"] != "qwen3":
            kw["chat_template"] = t2507
        try:
            text = hf.apply_chat_template(r["messages"], **kw)
            r["text"] = text
            r["ids"] = enc(text)
        except Exception as e:  # noqa: BLE001
            r["error"] = repr(e)
            errors += 1
    info["chat_errors"] = errors
    write_jsonl(os.path.join(args.out, "chat.jsonl"), rows)
    # transformers' own encode must agree with tokenizers' (it wraps it).
    sample = [r["text"] for r in read_jsonl(os.path.join(GOLDEN, "corpus.jsonl")) if "text" in r][:200]
    info["transformers_encode_mismatches"] = sum(hf.encode(s, add_special_tokens=False) != enc(s) for s in sample)
    info["t_refs_s"] = time.time() - t0

    vj = variant_file(os.path.join(args.tokenizer, "tokenizer.json"), VARIANT_PATCH)
    vpath = os.path.join(args.out, "variant_tokenizer.json.tmp")
    with open(vpath, "w", encoding="utf-8") as f:
        json.dump(vj, f, ensure_ascii=False)
    vt = tokenizers.Tokenizer.from_file(vpath)
    os.remove(vpath)
    texts = VARIANT_TEXTS + [r["text"] for r in read_jsonl(os.path.join(GOLDEN, "corpus.jsonl"))
                             if "text" in r and (r["name"].startswith("special/") or r["name"].startswith("random/random_mix"))]
    vrows = [{"patch": VARIANT_PATCH}] + [{"text": t, "ids": vt.encode(t, add_special_tokens=False).ids} for t in texts]
    write_jsonl(os.path.join(args.out, "variants.jsonl"), vrows)

    with open(os.path.join(args.out, "unicode_classes.txt"), "w") as f:
        f.write("\n".join(probe_classes(tk)) + "\n")
    info["t_classes_s"] = time.time() - t0
    with open(os.path.join(args.out, "unicode_nfc.txt"), "w") as f:
        f.write("\n".join(nfc_table(tk)) + "\n")
    info["t_nfc_s"] = time.time() - t0

    rng = random.Random(args.seed)
    with gzip.open(os.path.join(args.out, "stress.jsonl.gz"), "wt", encoding="utf-8") as f:
        for s in stress_strings(rng, args.stress):
            f.write(json.dumps({"text": s, "ids": enc(s)}, ensure_ascii=False) + "\n")
    info["t_stress_s"] = time.time() - t0

    # HF's own single-thread speed on the benchmark samples, for comparison.
    for name in ["prose", "code"]:
        with open(os.path.join(GOLDEN, "bench", f"{name}.txt"), encoding="utf-8") as f:
            text = f.read()
        best = 1e9
        for _ in range(3):
            s = time.perf_counter()
            ids = enc(text)
            best = min(best, time.perf_counter() - s)
        info[f"hf_encode_{name}_MBps"] = len(text.encode()) / best / 1e6
        info[f"hf_{name}_tokens"] = len(ids)
        best = 1e9
        for _ in range(3):
            s = time.perf_counter()
            tk.decode(ids)
            best = min(best, time.perf_counter() - s)
        info[f"hf_decode_{name}_MBps"] = len(text.encode()) / best / 1e6
    s = time.perf_counter()
    tokenizers.Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    info["hf_load_ms"] = (time.perf_counter() - s) * 1e3
    info["t_total_s"] = time.time() - t0
    with open(os.path.join(args.out, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


def cmd_probe(args):
    """Second run: what HF's NFC knows of combining classes (its normalizer's Unicode data is
    older than its regex's), which code points HF's single_word treats as word characters,
    and fresh unseen stress strings and conversations (new seeds) to re-check against."""
    import unicodedata
    import tokenizers
    import transformers
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    tk = tokenizers.Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    norm = tk.normalizer
    lines = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if unicodedata.combining(c) == 0:
            continue
        p1 = norm.normalize_str("\u0345" + c)
        p2 = norm.normalize_str(c + "\u0334")
        lines.append(f"{cp:X} {unicodedata.combining(c)} " + " ".join(f"{ord(x):X}" for x in p1) + " | " +
                     " ".join(f"{ord(x):X}" for x in p2))
    with open(os.path.join(args.out, "probe_ccc.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    info = {"unidata": unicodedata.unidata_version, "t_ccc_s": time.time() - t0}

    # single_word: a token that is not in the vocabulary, probed with every code point
    # after it and before it.
    j = variant_file(os.path.join(args.tokenizer, "tokenizer.json"),
                     {"set": [], "append": [{"id": 151669, "content": "QQQZZZ", "single_word": True, "lstrip": False,
                                             "rstrip": False, "normalized": False, "special": False}]})
    vpath = os.path.join(args.out, "word_tokenizer.json.tmp")
    with open(vpath, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    wt = tokenizers.Tokenizer.from_file(vpath)
    os.remove(vpath)
    word = []  # runs: first code point and flags (word char when after, when before)
    prev = None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            flags = "00"
        else:
            c = chr(cp)
            after = 151669 not in wt.encode("QQQZZZ" + c, add_special_tokens=False).ids
            before = 151669 not in wt.encode(c + "QQQZZZ", add_special_tokens=False).ids
            flags = f"{int(after)}{int(before)}"
        if flags != prev:
            word.append(f"{cp:X} {flags}")
            prev = flags
    with open(os.path.join(args.out, "probe_word.txt"), "w") as f:
        f.write("\n".join(word) + "\n")
    info["t_word_s"] = time.time() - t0

    rng = random.Random(args.seed)
    with gzip.open(os.path.join(args.out, "stress2.jsonl.gz"), "wt", encoding="utf-8") as f:
        for s in stress_strings(rng, args.stress):
            f.write(json.dumps({"text": s, "ids": tk.encode(s, add_special_tokens=False).ids}, ensure_ascii=False) + "\n")
    info["t_stress_s"] = time.time() - t0

    hf = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    with open(os.path.join(GOLDEN, "qwen3_thinking_2507.jinja"), encoding="utf-8") as f:
        t2507 = f.read()
    rows = []
    for template in ["qwen3", "qwen3-thinking-2507"]:
        for i in range(150):
            r = {"name": f"{template}/fresh_{i}", "template": template, "messages": random_conversation(rng, i),
                 "add_generation_prompt": rng.random() < 0.7}
            if template == "qwen3" and rng.random() < 0.5:
                r["enable_thinking"] = rng.random() < 0.5
            if rng.random() < 0.3:
                r["tools"] = rng.choice([[SEARCH_TOOL], [WEATHER_TOOL, FLAT_TOOL]])
            kw = {"add_generation_prompt": r["add_generation_prompt"], "tokenize": False}
            for k in ("enable_thinking", "tools"):
                if k in r:
                    kw[k] = r[k]
            if template != "qwen3":
                kw["chat_template"] = t2507
            try:
                r["text"] = hf.apply_chat_template(r["messages"], **kw)
                r["ids"] = tk.encode(r["text"], add_special_tokens=False).ids
            except Exception as e:  # noqa: BLE001
                r["error"] = repr(e)
            rows.append(r)
    write_jsonl(os.path.join(args.out, "chat2.jsonl"), rows)
    info["t_total_s"] = time.time() - t0
    with open(os.path.join(args.out, "probe_info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


def cmd_cxx(args):
    """Writes src/hearth/tokenizer/unicode_hf_data.inc from the committed probe results:
    the code points whose class HF's regex (Oniguruma, Unicode 16) sees differently from
    utf8proc 2.8 (Unicode 15), the combining marks HF's NFC does not know (its Unicode data
    is older: it treats them as inert starters), and HF's single_word word characters."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so")
    lib.utf8proc_category.restype = ctypes.c_int
    lib.utf8proc_category.argtypes = [ctypes.c_int32]
    # utf8proc_category_t: LU=1 LL=2 LT=3 LM=4 LO=5 ... ND=9 NL=10 NO=11
    ws = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(range(0x2000, 0x200B))

    def ours(cp):
        if cp in ws:
            return "S"
        cat = lib.utf8proc_category(cp)
        return "L" if 1 <= cat <= 5 else "N" if 9 <= cat <= 11 else "O"

    def runs_from(path, width):
        out = []
        with open(path) as f:
            for line in f:
                a, b = line.split()[:2]
                out.append((int(a, 16), b))
        table = []
        for i, (start, v) in enumerate(out):
            end = out[i + 1][0] if i + 1 < len(out) else 0x110000
            table.append((start, end, v))
        return table

    def ranges(cps):
        rs = []
        for cp in cps:
            if rs and rs[-1][1] + 1 == cp:
                rs[-1][1] = cp
            else:
                rs.append([cp, cp])
        return rs

    hf_class = runs_from(os.path.join(GOLDEN, "unicode_classes.txt"), 1)
    overrides = []
    for start, end, cls in hf_class:
        for cp in range(start, end):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            if ours(cp) != cls:
                if overrides and overrides[-1][1] + 1 == cp and overrides[-1][2] == cls:
                    overrides[-1][1] = cp
                else:
                    overrides.append([cp, cp, cls])
    unknown = []
    with open(os.path.join(GOLDEN, "probe_ccc.txt")) as f:
        for line in f:
            head, p2 = line.strip().split(" | ")
            parts = head.split()
            cp = int(parts[0], 16)
            p1 = [int(x, 16) for x in parts[2:]]
            p2 = [int(x, 16) for x in p2.split()]
            if p1 == [0x345, cp] and p2 == [cp, 0x334]:
                unknown.append(cp)
    word = [(a, b) for a, b, v in runs_from(os.path.join(GOLDEN, "probe_word.txt"), 2) if v == "11"]
    cls_name = {"L": "kLetter", "N": "kNumber", "S": "kSpace", "O": "kOther"}
    out = ["// Generated by tools/make_tokenizer_refs.py cxx from tests/golden/tokenizer/{unicode_classes,",
           "// probe_ccc,probe_word}.txt (HF tokenizers 0.23 probed on every code point). Do not edit.",
           "",
           "// Code points whose class under HF's split regex (Oniguruma, Unicode 16) differs from",
           "// utf8proc's (Unicode 15): [first, last], class.",
           "constexpr ClassOverride kHfClassOverrides[] = {"]
    for a, b, c in overrides:
        out.append(f"    {{0x{a:X}, 0x{b:X}, {cls_name[c]}}},")
    out += ["};", "",
            "// Combining marks HF's NFC does not know (its normalization data predates them): it",
            "// treats them as starters that neither reorder nor compose. [first, last].",
            "constexpr CodePointRange kHfUnknownMarks[] = {"]
    for a, b in ranges(unknown):
        out.append(f"    {{0x{a:X}, 0x{b:X}}},")
    out += ["};", "",
            "// HF's single_word word characters (its regex \\w): [first, last].",
            "constexpr CodePointRange kHfWordChars[] = {"]
    for a, b in word:
        out.append(f"    {{0x{a:X}, 0x{b - 1:X}}},")
    out += ["};", ""]
    path = os.path.join(ROOT, "src", "hearth", "tokenizer", "unicode_hf_data.inc")
    with open(path, "w") as f:
        f.write("\n".join(out))
    print(f"wrote {path}: {len(overrides)} class overrides, {len(unknown)} unknown marks, {len(word)} word ranges")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    g.add_argument("--bench", action="store_true", help="also rewrite bench/prose.txt and bench/code.txt")
    r = sub.add_parser("refs")
    r.add_argument("--tokenizer", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--stress", type=int, default=40000)
    r.add_argument("--seed", type=int, default=4242)
    p = sub.add_parser("probe")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stress", type=int, default=30000)
    p.add_argument("--seed", type=int, default=777)
    sub.add_parser("cxx")
    args = ap.parse_args()
    {"cxx": cmd_cxx, "gen": cmd_gen, "refs": cmd_refs, "probe": cmd_probe}[args.cmd](args)


if __name__ == "__main__":
    main()
