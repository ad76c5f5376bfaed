"""A seeded, generated multilingual corpus for the tokenizer differential tests."""
import random

FIXED = [
    "", " ", "  ", "\t", "\n", "\r\n", " \n \n", "\n\n\n\n", "a\n\nb", "x \t y", "end   ",
    "Hello world", " Hello World!", "Hello, world! How's it going? I'm fine; you'RE great, they'LL see.",
    "DON'T STOP 'S 'T 'RE 'VE 'M 'LL 'D 'x", "l'été était très chaud à Paris — n'est-ce pas?",
    "Größenordnung Straße Ärger Öl Über façade naïve coöperate señor João",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "العربية لغة جميلة، أليس كذلك؟ ١٢٣٤٥",
    "हिन्दी एक भाषा है। क्षत्रिय ज्ञान",
    "日本語のテキストと漢字、中文文本，한국어 텍스트입니다。",
    "emoji 😀😃😄 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇫🇷 ❤️ ✨", "3.14159 1,000,000 12345678901234567890 ٣٤ ⅷ ½",
    "def f(x):\n    return x**2  # comment\n\tif a != b: pass\n",
    "int main(void) { printf(\"%d\\n\", a[i] >> 2); return 0; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "   leading and trailing   ", "multiple     spaces\t\ttabs\n\n\nnewlines\r\n\r\n",
    "ﬁ ﬂ ＡＢＣ １２３ ｶﾀｶﾅ ℌ ℍ ™ ㎏", "a\u00a0b\u2003c\u3000d\u200be\u2028f\u2029g\u0085h",
    "ſ 'ſ 'K 'k İstanbul ǅ", " " * 40 + "x", "a" + " " * 33 + "b", "\n" * 40, "\t" * 35 + "y",
    "\u2581", "\u2581\u2581x", "a \u2581 b\u2581\u2581\u2581c", " \u2581", "x" * 300,
    "<b>not</b> <unused1> <start_of_turn> <|eot_id|>", "<think>\nx\n</think> <|im_start|>", "a" * 5 + " " * 5 + "\n" * 5 + "\r\n" * 3, "e\u0301 a\u0308 combining", "\U0001d400\U0001d401 \U00020000 \U0010ffff",
]

WORDS = {
    "latin": ["hello", "world", "The", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "café",
              "résumé", "naïve", "Ångström", "Zürich", "piñata", "œuvre", "Łódź", "Dvořák", "İ", "straße"],
    "cyrillic": ["привет", "мир", "Москва", "ёжик", "Україна", "їжак", "Београд"],
    "greek": ["Καλημέρα", "κόσμε", "ΑΘΗΝΑ", "λόγος"],
    "arabic": ["مرحبا", "بالعالم", "كتاب", "السلام", "عليكم"],
    "hebrew": ["שלום", "עולם"],
    "hindi": ["नमस्ते", "दुनिया", "भारत", "हिन्दी"],
    "cjk": ["你好", "世界", "東京", "こんにちは", "カタカナ", "漢字", "안녕하세요", "세계", "中华人民共和国"],
    "thai": ["สวัสดี", "ภาษาไทย"],
    "emoji": ["😀", "🚀", "👨‍💻", "👩‍👩‍👦", "🏳️‍⚧️", "👋🏿", "🇯🇵", "🧑‍🤝‍🧑", "☕", "©", "⚡️"],
    "code": ["x=1;", "if(a&&b)", "foo->bar", "a[i]++", "#include", "<div>", "</div>", "{}", "=>", "!=",
             "//", "/*", "*/", "::", "...", "0x1F", "__init__", "self.x", "$var", "@dec", "`cmd`"],
    "num": ["0", "7", "42", "123", "1234", "99999", "3.5", "1e10", "-17", "2024-01-01", "١٢٣", "४२", "Ⅻ"],
    "punct": [".", ",", "!", "?", ";", ":", "'", "\"", "(", ")", "«", "»", "—", "–", "…", "¿", "¡", "、",
              "。", "「", "」", "'s", "'t", "'re", "'ll", "'VE", "’s"],
    # decomposed and composed forms: NFC (Qwen) composes these, the others must not
    "combining": ["e\u0301", "a\u0308", "Vie\u0302\u0323t", "n\u0303", "\u1100\u1161\u11a8", "\u212b",
                  "\u0915\u093c", "\u0958", "\u1e9b\u0323", "\u03b1\u0313\u0301", "\u0627\u0653",
                  "\u0645\u064e\u0631\u0652", "o\u0308\u0301\u0323", "\u0301", "x\u20dd", "\u1ec7"],
    "digits": ["0123456789", "\u0660\u0661\u0662\u0663", "\u06f1\u06f2\u06f3", "\u0967\u0968\u0969\u096a",
               "1,234.56", "12345678901234567890", "\uff11\uff12\uff13", "\u2460\u2461", "\u00b2\u00b3\u00b9",
               "\u00bd\u00bc", "3\u00bd"],
    "space": [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0",
              "\u3000", "        ",
              " " * 17, "\n" * 7, "\t \t \t", " \r\n\r\n ", "\u2003\u2003", "\u00a0 \u00a0"],
}

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
          (0x0E00, 0x0E7F), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2190, 0x22FF), (0x2500, 0x25FF),
          (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF),
          (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF), (0x0300, 0x036F)]


def random_cp(rng):
    if rng.random() < 0.15:  # anywhere in Unicode but surrogates
        while True:
            c = rng.randrange(0x1, 0x110000)
            if not (0xD800 <= c <= 0xDFFF):
                return chr(c)
    lo, hi = rng.choice(RANGES)
    return chr(rng.randint(lo, hi))


def make(n=4000, seed=20240601):
    rng = random.Random(seed)
    out = list(FIXED)
    kinds = list(WORDS)
    while len(out) < n:
        r = rng.random()
        if r < 0.2:  # random code points
            s = "".join(random_cp(rng) for _ in range(rng.randint(1, 30)))
        elif r < 0.3:  # whitespace soup
            s = "".join(rng.choice(WORDS["space"] + ["a", "b", "1", "."]) for _ in range(rng.randint(1, 12)))
        else:  # mixed fragments, mostly joined by single spaces
            parts = []
            for _ in range(rng.randint(1, 14)):
                k = rng.choice(kinds)
                parts.append(rng.choice(WORDS[k]))
                sep = rng.random()
                parts.append(" " if sep < 0.6 else "" if sep < 0.8 else rng.choice(WORDS["space"]))
            s = "".join(parts)
            if rng.random() < 0.1:
                s = s.upper()
        out.append(s)
    return out[:n]
