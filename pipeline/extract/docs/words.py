"""Code-like words: the identifiers that code spans and code blocks of a page mention.

The rule, applied to the text of code spans, fenced and indented code blocks only (prose,
links and HTML never contribute):

1. A *name* is ``[A-Za-z_][A-Za-z0-9_]*``, possibly joined to more names by ``.`` or ``::``
   (``torch.nn.Module``, ``at::native::add``); it is not glued to other word characters.
2. A name is *code-like* when it contains ``_``, ``.``, ``::`` or a digit, or has an inner
   capital: a lower-case letter followed by a capital (``camelCase``, ``PascalCase``) or two
   capitals followed by two lower-case letters (``IOError``, ``HTTPServer``). Plain words
   (``value``, ``Module``, ``HTTP``) are not: in a code block they are mostly English.
3. A code span that holds exactly one name of two or more characters (optionally followed by
   ``()``) counts whatever its shape: the author marked it as code (```torch```, ```Circle```).
4. Python and C/C++ keywords (a fixed set, below) never count.
"""

from __future__ import annotations

import functools
import re

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Look-arounds keep a name from starting or ending inside a longer word (``0x1F``, ``café``).
# ``(?<!\w)NAME(?:(?:\.|::)NAME)*(?!\w)``, written to start with a character class (the
# engine then skips to the next letter or ``_`` without trying each position) and with its
# names taken whole (backtracking into a name cannot end it before a non-word character):
# the same matches, found about a fifth faster.
_CHAIN = re.compile(r"[A-Za-z_](?<!\w[A-Za-z_])[A-Za-z0-9_]*+"
                    r"(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*+)*(?!\w)")
_WHOLE = re.compile(rf"{_NAME}(?:(?:\.|::){_NAME})*")
_HUMP = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]{2}")
_MARKS = frozenset("_.:0123456789")

# Fixed, so the output never depends on the Python version running the pipeline.
KEYWORDS = frozenset(
    """
    False None True and as assert async await break class continue def del elif else except
    finally for from global if import in is lambda nonlocal not or pass raise return try while
    with yield match case _
    alignas alignof and_eq asm auto bitand bitor bool char char8_t char16_t char32_t compl
    concept const consteval constexpr constinit const_cast co_await co_return co_yield
    decltype default delete do double dynamic_cast enum explicit export extern false float
    friend goto inline int long mutable namespace new noexcept not_eq nullptr operator or_eq
    private protected public register reinterpret_cast requires short signed sizeof static
    static_assert static_cast struct switch template this thread_local throw true typedef
    typeid typename union unsigned using virtual void volatile wchar_t xor xor_eq
    restrict _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn
    _Static_assert _Thread_local
    """.split()
)


@functools.lru_cache(maxsize=1 << 17)
def code_like(word: str) -> bool:
    """Rule 2: the shape of a name says it is code. (Cached: a layer of pages repeats the
    same names on every page.)"""
    return not _MARKS.isdisjoint(word) or _HUMP.search(word) is not None


def code_words(text: str) -> set[str]:
    """The code-like names of a code block (rules 1, 2 and 4)."""
    # Deduplicate first: a 2 MB block has few distinct names but many occurrences.
    return {w for w in set(_CHAIN.findall(text)) if code_like(w) and w not in KEYWORDS}


@functools.lru_cache(maxsize=1 << 16)
def span_words(text: str) -> frozenset[str]:
    """The names a code span contributes (rules 1 to 4). (Cached: a page's code spans
    are mostly names and signatures that its neighbours show too.)"""
    whole = text.strip().removesuffix("()")
    if len(whole) >= 2 and _WHOLE.fullmatch(whole) and whole not in KEYWORDS:
        return frozenset((whole,))
    return frozenset(code_words(text))
