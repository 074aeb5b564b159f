"""Names of C-family declarators: what a declaration declares, and what an ``A::b`` qualifies."""

from __future__ import annotations

from tree_sitter import Node

from pipeline.extract.cfamily.text import node_text, one_line

# Declarator nodes that name a function (as opposed to ``(*fp)``, a pointer variable).
_NAME_TYPES = frozenset(
    {"identifier", "field_identifier", "qualified_identifier", "destructor_name",
     "operator_name", "operator_cast", "template_function", "template_method"}
)
# Declarators that wrap a function declarator without changing what is declared.
_WRAPPERS = frozenset({"pointer_declarator", "reference_declarator", "attributed_declarator"})


def function_target(declarator: Node) -> Node | None:
    """The name node of the function a declarator declares, or None for anything else."""
    node: Node | None = declarator
    while node is not None and node.type in _WRAPPERS:
        inner = node.child_by_field_name("declarator")
        node = inner if inner is not None else _last_named(node)
    if node is None:
        return None
    if node.type == "function_declarator":
        target = node.child_by_field_name("declarator")
        return target if target is not None and target.type in _NAME_TYPES else None
    # Conversion operators carry their parameter list inside: ``operator bool() const``.
    if node.type == "operator_cast" or final_name(node).type == "operator_cast":
        return node
    return None


def _last_named(node: Node) -> Node | None:
    count = node.named_child_count
    return node.named_child(count - 1) if count else None


def final_name(node: Node) -> Node:
    """The last component of a possibly qualified name (``bar`` of ``a::Foo<T>::bar``)."""
    while node.type == "qualified_identifier":
        name = node.child_by_field_name("name")
        if name is None:
            break
        node = name
    return node


def name_parts(node: Node, source: bytes) -> list[str]:
    """Components of a declarator name as written; template arguments of scopes dropped
    (``Foo<T>::bar`` gives ``Foo``, ``bar``) so out-of-line members join their class."""
    parts: list[str] = []
    while node.type == "qualified_identifier":
        scope = node.child_by_field_name("scope")
        if scope is not None:
            parts.append(plain_name(scope, source))
        name = node.child_by_field_name("name")
        if name is None:
            return parts
        node = name
    if node.type == "operator_cast":
        inner = node.child_by_field_name("declarator")
        end = inner.start_byte if inner is not None else node.end_byte
        parts.append(one_line(source[node.start_byte : end]))
    else:
        parts.append(node_text(node, source))
    return parts


def plain_name(node: Node, source: bytes) -> str:
    """A type or scope name without template arguments (``Foo`` of ``Foo<T>``)."""
    if node.type == "template_type":
        name = node.child_by_field_name("name")
        if name is not None:
            node = name
    return node_text(node, source)


def names_class(target: Node, source: bytes, classes: set[str], namespaces: set[str]) -> bool:
    """Whether ``A::b`` defines a member of class ``A`` (not a function of namespace ``A``).

    The grammar cannot tell; in order: a template scope, a constructor or destructor, a class
    or namespace of this file, and the naming convention (classes capitalised, namespaces not).
    """
    node = target
    inner = node.child_by_field_name("name")
    while inner is not None and inner.type == "qualified_identifier":
        node = inner
        inner = node.child_by_field_name("name")
    scope = node.child_by_field_name("scope")
    if scope is None or inner is None:
        return False
    if scope.type == "template_type" or inner.type == "destructor_name":
        return True
    scope_name = plain_name(scope, source)
    if scope_name == plain_name(inner, source) or scope_name in classes:
        return True
    if scope_name in namespaces:
        return False
    return scope_name[:1].isupper()


def is_pure_virtual(node: Node) -> bool:
    """``virtual void run() = 0;``: a member declaration whose default value is ``0``."""
    value = node.child_by_field_name("default_value")
    return value is not None and value.text == b"0"
