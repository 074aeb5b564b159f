"""Pattern, performance and security findings decided on the gathered definitions and facts.

Nothing here reads text: every rule looks at a definition, a decorator, a base class or a call
that the syntax trees produced, with import aliases resolved (``pk.loads`` is ``pickle.loads``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.extract.python.facts import BUILTIN_CALLS, resolve
from pipeline.extract.python.model import ClassInfo, Facts, FuncInfo
from pipeline.extract.python.visitor import Gatherer
from pipeline.records import Finding

_ABSTRACT = frozenset({"abstractmethod", "abstractproperty", "abstractclassmethod",
                       "abstractstaticmethod"})
_CONTEXT = frozenset({"contextlib.contextmanager", "contextlib.asynccontextmanager",
                      "contextmanager", "asynccontextmanager"})
_PROTOCOL = ("__enter__", "__exit__", "__aenter__", "__aexit__")
_MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module", "nn.Module"})
_FUNCTION_BASES = frozenset({"torch.autograd.Function", "torch.autograd.function.Function",
                             "autograd.Function"})
_PICKLE = frozenset({"pickle.load", "pickle.loads", "cPickle.load", "cPickle.loads",
                     "_pickle.load", "_pickle.loads", "dill.load", "dill.loads"})
_BUILTINS = frozenset("builtins." + name for name in BUILTIN_CALLS)
# Uses of these names (or of names below them) are performance notes.
_PERFORMANCE = (
    ("torch.cuda", "CUDA"), ("threading", "Threads"), ("concurrent.futures", "Threads"),
    ("multiprocessing", "Processes"), ("torch.multiprocessing", "Processes"),
    ("functools.cache", "Caching"), ("functools.lru_cache", "Caching"),
    ("functools.cached_property", "Caching"), ("torch.jit.script", "Compilation"),
    ("torch.jit.trace", "Compilation"), ("torch.compile", "Compilation"),
    ("triton.jit", "Compilation"), ("timeit", "Benchmark"), ("torch.utils.benchmark", "Benchmark"),
)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _where(scope: str) -> str:
    return f"in `{scope}`" if scope else "at module level"


def _pattern(label: str, line: int, detail: str) -> Finding:
    return Finding("pattern", label, line, detail)


def find_all(gathered: Gatherer, facts: Facts) -> tuple[Finding, ...]:
    """Every finding, sorted by line, one per (area, label, line)."""
    found: list[Finding] = []
    for info in gathered.classes:
        found.extend(_class_patterns(info, gathered.aliases))
    found.extend(_function_patterns(gathered, facts))
    found.extend(_statement_patterns(gathered, facts))
    found.extend(_performance(gathered, facts))
    found.extend(_security(facts))
    found.sort(key=lambda f: (f.line, f.area, f.label, f.detail))
    seen: set[tuple[str, str, int]] = set()
    unique: list[Finding] = []
    for finding in found:
        key = (finding.area, finding.label, finding.line)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return tuple(unique)


def _class_patterns(info: ClassInfo, aliases: dict[str, str]) -> Iterator[Finding]:
    name = f"`{info.qualname}`"
    for method in info.methods:
        if method.name == "__init__":
            yield _pattern("Constructor", method.line, f"{name} defines a constructor `__init__`.")
    for decorator in info.decorators:
        if resolve(decorator.name, aliases) in ("dataclasses.dataclass", "dataclass"):
            frozen = ("frozen", "c:True") in decorator.kwargs
            kind = "a frozen dataclass" if frozen else "a dataclass"
            yield _pattern("Dataclass", decorator.line, f"{name} is {kind} (`@{decorator.text}`).")
    protocol = [f"`{m}`" for m in _PROTOCOL if any(x.name == m for x in info.methods)]
    if protocol:
        yield _pattern("Context manager", info.line, f"{name} implements {', '.join(protocol)}.")
    for written in info.base_names:
        resolved = resolve(written, aliases)
        if resolved in ("abc.ABC", "ABC"):
            yield _pattern("Abstract base class", info.line,
                           f"{name} is an abstract base class (inherits `{written}`).")
        if resolved in _MODULE_BASES or written in _MODULE_BASES:
            yield _pattern("nn.Module subclass", info.line, f"{name} subclasses `{written}`.")
        if resolved in _FUNCTION_BASES or written in _FUNCTION_BASES:
            yield _pattern("autograd.Function subclass", info.line,
                           f"{name} subclasses `{written}`.")
    for keyword, value in info.keywords:
        if keyword == "metaclass" and resolve(value, aliases) in ("abc.ABCMeta", "ABCMeta"):
            yield _pattern("Abstract base class", info.line,
                           f"{name} is an abstract base class (metaclass `{value}`).")
    errors = [b for b in info.base_names if _last(b).endswith(("Error", "Exception"))]
    if errors:
        yield _pattern("Exception handling", info.line,
                       f"{name} is a custom exception class (extends `{errors[0]}`).")


def _function_patterns(gathered: Gatherer, facts: Facts) -> Iterator[Finding]:
    aliases = gathered.aliases
    for info in gathered.functions:
        name = f"`{info.qualname}`"
        for decorator in info.decorators:
            resolved = resolve(decorator.name, aliases)
            at = f"`@{decorator.text}`"
            line, last = decorator.line, _last(resolved)
            if resolved in _CONTEXT:
                yield _pattern("Context manager", line, f"{name} is a context manager ({at}).")
            elif last in _ABSTRACT and resolved in (last, "abc." + last):
                yield _pattern("Abstract base class", line, f"{name} is an abstract method ({at}).")
            elif resolved == "property":
                yield _pattern("Property", line, f"{name} is a property ({at}).")
            elif decorator.name.count(".") == 1 and last in ("setter", "getter", "deleter"):
                yield _pattern("Property", line, f"{name} is a property {last} ({at}).")
            elif last == "cached_property":
                yield _pattern("Property", line, f"{name} is a cached property ({at}).")
        if info.is_async:
            yield _pattern("Async code", info.line, f"{name} is a coroutine (`async def`).")
    yield from _generators(gathered.functions, facts.yields)
    yield from _decorator_factories(gathered, facts)
    yield from _annotated_api(gathered)


def _owners(functions: list[FuncInfo], lines: Iterable[int]) -> dict[int, FuncInfo]:
    """The innermost function around each of ``lines``.

    Definitions come in source order, outer before inner, so painting each one's line range
    over the previous ones leaves the innermost; only the asked lines are painted.
    """
    wanted = set(lines)
    owners: dict[int, FuncInfo] = {}
    if wanted:
        for info in functions:
            first, last = info.line, info.end_line
            if len(wanted) < last - first:
                hits: Iterable[int] = [line for line in wanted if first <= line <= last]
            else:
                hits = wanted.intersection(range(first, last + 1))
            for line in hits:
                owners[line] = info
    return owners


def _generators(functions: list[FuncInfo], yields: list[int]) -> Iterator[Finding]:
    owners = _owners(functions, yields)
    first: dict[int, tuple[FuncInfo, int]] = {}  # id of the generator -> its first yield
    for line in sorted(yields):
        owner = owners.get(line)
        if owner is not None and id(owner) not in first:
            first[id(owner)] = (owner, line)
    for owner, line in first.values():
        yield _pattern("Generator", owner.line,
                       f"`{owner.qualname}` is a generator function (`yield` at line {line}).")


def _wrapped_callable(info: FuncInfo, inner: FuncInfo, facts: Facts) -> str:
    """The parameter of ``info`` that ``inner`` wraps: named in ``@wraps``, typed, or called."""
    for param in info.params:
        if param.callable_hint:
            return param.name
        marker = "n:" + param.name
        if any(_last(d.name) == "wraps" and marker in d.args for d in inner.decorators):
            return param.name
        if any(name == param.name and inner.line <= line <= inner.end_line
               for line, name in facts.local_calls):
            return param.name
    return ""


def _decorator_factories(gathered: Gatherer, facts: Facts) -> Iterator[Finding]:
    by_name = {info.qualname: info for info in gathered.functions}
    wrapping: dict[str, str] = {}  # qualname of a decorator -> qualname of its wrapper
    for info in gathered.functions:
        for nested in info.nested:
            inner = by_name.get(f"{info.qualname}.{nested}")
            if inner is None or nested not in info.returned:
                continue
            wrapped = _wrapped_callable(info, inner, facts)
            if wrapped:
                wrapping[info.qualname] = inner.qualname
                yield _pattern("Decorator factory", info.line,
                               f"`{info.qualname}` wraps the callable `{wrapped}` in the nested "
                               f"function `{nested}` and returns it.")
    for info in gathered.functions:
        for nested in info.nested:
            inner_name = f"{info.qualname}.{nested}"
            if nested in info.returned and inner_name in wrapping:
                yield _pattern("Decorator factory", info.line,
                               f"`{info.qualname}` returns the decorator `{inner_name}`.")


def _annotated_api(gathered: Gatherer) -> Iterator[Finding]:
    public_classes: set[str] = set()
    for info in gathered.classes:
        if not info.name.startswith("_") and (not info.parent or info.parent in public_classes):
            public_classes.add(info.qualname)
    api = [f for f in gathered.functions
           if f.public and (f.top_level or f.owner_class in public_classes)]
    if not api:
        return
    for function in api:
        params = function.params
        if function.owner_class and params and params[0].name in ("self", "cls"):
            params = params[1:]
        if not function.returns_annotated or not all(p.annotated for p in params):
            return
    yield _pattern("Type-annotated API", 1,
                   f"Every public function and method ({len(api)} in all) annotates its "
                   "parameters and return type.")


def _statement_patterns(gathered: Gatherer, facts: Facts) -> Iterator[Finding]:
    for attempt in gathered.tries:
        where = _where(attempt.scope)
        types = [f"`{t}`" if t else "every exception (bare `except`)" for t in attempt.handlers]
        if types:
            detail = f"`try` statement {where} handles {', '.join(types)}."
        else:
            detail = f"`try`/`finally` statement {where}."
        yield _pattern("Exception handling", attempt.line, detail)
    for line, what, scope in gathered.async_statements:
        yield _pattern("Async code", line, f"`{what}` {_where(scope)}.")
    owners = _owners(gathered.functions, (line for line, _ in facts.awaits))
    for line, what in facts.awaits:
        owner = owners.get(line)
        yield _pattern("Async code", line, f"`{what}` {_where(owner.qualname if owner else '')}.")


def _performance(gathered: Gatherer, facts: Facts) -> Iterator[Finding]:
    uses = [(call.line, call.name) for call in facts.calls] + facts.refs
    for line, name in uses:
        for prefix, label in _PERFORMANCE:
            if _under(name, prefix):
                yield Finding("performance", label, line, f"Uses `{name}`.")
                break
    definitions: list[FuncInfo | ClassInfo] = [*gathered.functions, *gathered.classes]
    for info in definitions:
        for decorator in info.decorators:
            resolved = resolve(decorator.name, gathered.aliases)
            if resolved.startswith("torch.jit."):
                yield Finding("performance", "Compilation", decorator.line,
                              f"`{info.qualname}` is compiled by `@{decorator.text}`.")
            elif _last(resolved) == "cached_property":
                yield Finding("performance", "Caching", decorator.line,
                              f"`{info.qualname}` caches its value (`@{decorator.text}`).")
    for line in facts.cuda_calls:
        yield Finding("performance", "CUDA", line, "Calls `.cuda()` to move data to the GPU.")
    for line, keyword, value in facts.keywords:
        if keyword == "device" and value.startswith("s:cuda"):
            yield Finding("performance", "CUDA", line, f'Places work on `device="{value[2:]}"`.')
    for call in facts.calls:
        values = call.args[:1] + tuple(v for k, v in call.kwargs if k == "type")
        if call.name == "torch.device" and any(v.startswith("s:cuda") for v in values):
            yield Finding("performance", "CUDA", call.line, "Creates a CUDA `torch.device`.")
    for line, (depth, scope) in gathered.deep_loops.items():
        yield Finding("performance", "Nested loops", line,
                      f"Loops nested {depth} deep {_where(scope)}, starting with this one.")


def _security(facts: Facts) -> Iterator[Finding]:
    for call in facts.calls:
        name, kwargs = call.name, dict(call.kwargs)
        label, detail = "", ""
        if (name in BUILTIN_CALLS and name not in facts.bound) or name in _BUILTINS:
            label, detail = "Code execution", f"Calls the builtin `{_last(name)}`."
        elif name in _PICKLE:
            label = "Pickle deserialisation"
            detail = f"Calls `{name}`, which runs arbitrary code when given untrusted data."
        elif name == "torch.load" and kwargs.get("weights_only") != "c:True":
            label = "torch.load without weights_only"
            detail = "Calls `torch.load` without `weights_only=True`, so it unpickles any object."
        elif name in ("marshal.load", "marshal.loads"):
            label, detail = "Marshal", f"Calls `{name}` on data that must be trusted."
        elif name.startswith("subprocess.") and kwargs.get("shell") == "c:True":
            label, detail = "Shell command", f"Calls `{name}` with `shell=True`."
        elif name in ("os.system", "os.popen"):
            label, detail = "Shell command", f"Calls `{name}`, which runs a shell command."
        elif name in ("yaml.load", "yaml.load_all"):
            loader = kwargs.get("Loader") or (call.args[1] if len(call.args) > 1 else "")
            if not (loader.startswith("n:") and _last(loader) in ("SafeLoader", "CSafeLoader")):
                label, detail = "YAML load", f"Calls `{name}` without a safe `Loader`."
        elif name in ("yaml.unsafe_load", "yaml.unsafe_load_all"):
            label, detail = "YAML load", f"Calls `{name}`, which builds arbitrary objects."
        elif name == "tempfile.mktemp":
            label = "Insecure temp file"
            detail = "Calls `tempfile.mktemp`, whose name another process can take first."
        elif name == "ssl._create_unverified_context":
            label, detail = "TLS verification disabled", f"Calls `{name}`."
        if label:
            yield Finding("security", label, call.line, detail)
    for line, keyword, value in facts.keywords:
        if keyword == "verify" and value == "c:False":
            yield Finding("security", "TLS verification disabled", line, "Passes `verify=False`.")
    for line, _, value in facts.stores:
        if value == "c:False":
            yield Finding("security", "TLS verification disabled", line,
                          "Sets `check_hostname = False`.")
