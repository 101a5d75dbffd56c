#!/usr/bin/env python3
"""Makes the tokenizer golden fixtures in testdata/ with Hugging Face tokenizers.

Trains four small BPE tokenizers on a varied corpus (English, code, CJK, emoji,
Arabic, Devanagari, whitespace runs, digits, CRLF), one per supported family:

  llama3_style    Split(Llama 3 regex) + ByteLevel, ignore_merges, BOS template
  gpt2_style      NFC + ByteLevel(add_prefix_space, GPT-2 regex), added tokens
                  with lstrip / rstrip / single_word / normalized
  llama2_style    Prepend("▁") + Replace(" ", "▁") normalizers, byte_fallback,
                  <0xNN> tokens, ByteFallback/Fuse/Strip decoder, BOS template
  metaspace_style Metaspace(prepend_scheme="first") pre-tokenizer and decoder

and records the encodings of held-out text (hand-picked edge cases plus seeded
random strings) in <name>.cases.json. The C++ golden test must match every id.

  python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers
  /tmp/tokvenv/bin/python tests/tokenizer/make_golden.py [--out DIR] [--fuzz N]

Deterministic: fixed seeds, single-threaded training.
"""
import argparse
import json
import os
import random

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,  # noqa: E402
                        normalizers, pre_tokenizers, processors, trainers)

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "It's a truth universally acknowledged that we'll need more tests.",
    "They're here, you've seen them, I'm sure he'd agree.",
    "Compression keeps every bit of the original weights.",
    "Large language models predict the next token from the previous ones.",
    "She said: \"Don't panic!\" -- and then left at 10:45 p.m.",
    "Prices rose 3.5% in 2023, to $1,234,567.89 per unit.",
    "In 1969, Apollo 11 landed on the Moon; 600 million people watched.",
    "Email me at someone@example.com or visit https://example.org/path?q=1.",
    "HELLO WORLD! THIS IS SHOUTING. Mixed CaSe WoRdS here.",
]
CODE = [
    "def encode(text: str) -> list[int]:\n    return [ord(c) for c in text]\n",
    "for (int i = 0; i < n; ++i) {\n  sum += a[i] * b[i];\n}\n",
    "if x != None and len(x) >= 3:\n\tprint(f\"{x!r}\")\n",
    "#include <vector>\nstd::vector<int32_t> ids = {1, 2, 3};\n",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name;\r\n",
    "    return absl::OkStatus();  // 4-space indent\n\n\n",
]
CJK = [
    "自然语言处理是人工智能的一个重要领域。",
    "東京は日本の首都です。ひらがなとカタカナ、漢字を使います。",
    "한국어 문장도 포함합니다. 안녕하세요!",
    "模型压缩可以节省显存，同时保持输出完全一致。",
]
OTHER_SCRIPTS = [
    "مرحبا بالعالم، هذه جملة باللغة العربية. ١٢٣ ٤٥٦",
    "नमस्ते दुनिया, यह हिंदी का वाक्य है। १२३",
    "Привет, мир! Это предложение на русском языке.",
    "Γειά σου Κόσμε. Ελληνικά γράμματα αβγδ.",
    "שלום עולם, זה משפט בעברית.",
]
EMOJI = [
    "I love it 😍😍 so much 🎉🎉🎉!",
    "Family: 👨‍👩‍👧‍👦 flags: 🇫🇷🇯🇵 skin: 👍🏽 👋🏿",
    "Weather ☀️ ⛈️ ❄️ and hearts ❤️💙💚",
]
WHITESPACE = [
    "lots    of     spaces",
    "tabs\tand\t\ttabs",
    "line one\r\nline two\r\n\r\nline four",
    "trailing spaces   \n  leading spaces",
    "\n\n\nthree newlines then text",
    "a \u00a0b\u3000c\u2028d\u0085e",
]
DIGITS = [
    "1234567890 12 123 1234 12345",
    "3.14159265358979 2.71828 6.022e23",
    "phone: +1 (555) 010-9999, zip 90210",
]

# Held-out edge cases; every tokenizer encodes all of them.
HELD_OUT = [
    "",
    " ",
    "   ",
    "a",
    "Hello world",
    " Hello world",
    "Hello  world",
    "Hello world  ",
    "I'm you'RE they'Ve we'LL it'S he'D 'ſ x'ſx",
    "don't DON'T can't 've 'm",
    "  \n  x",
    "x\r\n\r\n  y",
    "\t\tindented\n\t\tcode();\n",
    "end with newline\n",
    "end with spaces   ",
    "1234567 89 0",
    "٣٤٥٦ and ১২৩৪ digits",
    "e\u0301 cafe\u0301 vs caf\u00e9 (NFC)",
    "\u212b\u2126 compat \ufb01 ligature",
    "zero\u200bwidth joiner\u200d test",
    "new Unicode 16: \u1c89\u1c8a \U000105c0 \U00010d40",
    "👨‍👩‍👧‍👦🇫🇷 😀",
    "مرحبا بالعالم",
    "中文测试，不在训练集里的字：龘齉",
    "Ünïcödé àccénts",
    "mixed\u00a0nbsp and\u3000ideographic",
    "special <|begin_of_text|>inside<|eot_id|> text",
    "<s>hello</s> <unk>",
    "<|endoftext|>start and end<|endoftext|>",
    "the <mask> token and  <mask>  spaced",
    "[TOOL]   call then [TOOL]x",
    "foo foobar barfoo foo.",
    "new york is big, new  york not",
    "<tool>call</tool>",
    "a\u0085b\u2028c\u2029d",
    "\r\r\n\n\r",
    "!!!??? ... --- ***",
    " !!! ?? ",
    "'''quoted''' \"double\"",
    "x" * 120,
    "ab" * 50 + " " + "7" * 40,
]

# Characters the random held-out strings are drawn from.
POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3 +
        list("0123456789") * 2 + list(" " * 20) +
        list("\t\n\r\n'\".,;:!?-_()[]{}<>/\\@#$%^&*+=|~`") +
        list("éüßñøåçŁſİı") + list("自然语言处理東京ひらがなカタカナ한국어") +
        list("مرحباالعالم") + list("١٢٣٠") + list("नमस्ते") +
        ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "❤️", "\u200d", "\ufe0f"] +
        ["\u00a0", "\u3000", "\u2028", "\u0085", "\u000b", "\u000c",
         "\u0301", "\u212b", "\ufb01", "\u1c89", "\U00010d40", "\U0001f600"] +
        ["'s", "'t", "'re", "'VE", "'m", "'LL", "'d", "  ", "\r\n",
         " \n", "<s>", "</s>", "<|eot_id|>", "<mask>", "[TOOL]", "foo",
         "new york", "<tool>"])


def corpus(rng):
    pieces = ENGLISH + CODE + CJK + OTHER_SCRIPTS + EMOJI + WHITESPACE + DIGITS
    lines = list(pieces) * 4
    for _ in range(3000):
        k = rng.randint(1, 4)
        lines.append(" ".join(rng.choice(pieces) for _ in range(k)))
    return lines


def random_texts(rng, count):
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(POOL) for _ in range(n)))
    return out


def train(tok, lines, vocab_size, special, **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  show_progress=False, **kw)
    tok.train_from_iterator(lines, trainer=trainer)
    return tok


def with_byte_tokens(tok, n_special):
    """Inserts <0x00>..<0xFF> after the special tokens, as in Llama 2."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    shifted = {}
    for t, i in vocab.items():
        shifted[t] = i if i < n_special else i + 256
    for b in range(256):
        shifted["<0x%02X>" % b] = n_special + b
    spec["model"]["vocab"] = shifted
    for a in spec["added_tokens"]:
        if a["id"] >= n_special:
            a["id"] += 256
    return Tokenizer.from_str(json.dumps(spec))


def llama3_style(lines):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    train(tok, lines, 1000, special,
          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>",
                             tok.token_to_id("<|begin_of_text|>"))]),
    ])
    return tok


def gpt2_style(lines):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    train(tok, lines, 800, ["<|endoftext|>"],
          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.add_tokens([
        AddedToken("<mask>", lstrip=True, normalized=False),
        AddedToken("[TOOL]", rstrip=True, normalized=False),
        AddedToken("foo", single_word=True, normalized=True),
        AddedToken("café", normalized=True),
    ])
    return tok


def sentencepiece_alphabet_training(lines, vocab_size):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always",
                                                 split=True)
    train(tok, lines, vocab_size, ["<unk>", "<s>", "</s>"], limit_alphabet=150)
    return with_byte_tokens(tok, 3)


def llama2_style(lines):
    tok = sentencepiece_alphabet_training(lines, 800)
    tok.pre_tokenizer = None
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([
        decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
        decoders.Strip(content=" ", left=1, right=0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B",
        special_tokens=[("<s>", tok.token_to_id("<s>"))])
    tok.add_tokens([AddedToken("new york", normalized=True)])
    return tok


def metaspace_style(lines):
    tok = sentencepiece_alphabet_training(lines, 700)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first",
                                                 split=True)
    tok.decoder = decoders.Metaspace(prepend_scheme="first")
    tok.add_tokens([AddedToken("<tool>", normalized=False),
                    AddedToken("</tool>", normalized=False)])
    return tok


def record(tok, texts):
    cases = []
    for text in texts:
        ids = tok.encode(text).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        literal = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        case = {
            "text": text,
            "ids": ids,
            "decoded": tok.decode(plain, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        }
        # Stored only where they differ, to keep the fixtures small.
        if plain != ids:
            case["ids_no_special"] = plain
        if literal != plain:
            case["ids_literal_special"] = literal
        cases.append(case)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "testdata"))
    ap.add_argument("--fuzz", type=int, default=90,
                    help="random held-out strings per tokenizer")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = corpus(random.Random(6))
    builders = [("llama3_style", llama3_style), ("gpt2_style", gpt2_style),
                ("llama2_style", llama2_style),
                ("metaspace_style", metaspace_style)]
    for i, (name, build) in enumerate(builders):
        tok = build(lines)
        texts = HELD_OUT + random_texts(random.Random(100 + i), args.fuzz)
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            f.write(json.dumps(json.loads(tok.to_str()), ensure_ascii=False,
                               separators=(",", ":")))
        with open(os.path.join(args.out, name + ".cases.json"), "w") as f:
            json.dump({"tokenizer": name + ".json",
                       "made_by": "tokenizers " + tokenizers.__version__,
                       "cases": record(tok, texts)},
                      f, ensure_ascii=False, separators=(",", ":"))
        print(f"{name}: vocab {tok.get_vocab_size()}, {len(texts)} cases")


if __name__ == "__main__":
    main()
