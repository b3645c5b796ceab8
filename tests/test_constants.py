"""Module-level constants cannot be changed by accident.

A public UPPER_CASE name bound to a plain dict, list or set can be changed in place by any
caller (one stray ``PATTERNS["none"] = 0`` in a test or a notebook would change every
phantom rendered afterwards in that process). Such tables are ``types.MappingProxyType``,
tuples or frozensets instead; ``dict(TABLE)`` still gives a copy to change.
"""

from __future__ import annotations

import importlib
import pkgutil

import alonet

#: (module, name) -> why it is still a plain container. Delete an entry once it is fixed.
PENDING: dict[tuple[str, str], str] = {}


def mutable_constants() -> dict[tuple[str, str], str]:
    """(module, name) -> type name, for every public UPPER_CASE global of every alonet module
    bound to a plain dict, list or set (reported once, in the module that defines it)."""
    found: dict[tuple[str, str], str] = {}
    seen: set[int] = set()
    names = ["alonet"] + [m.name for m in pkgutil.walk_packages(alonet.__path__, "alonet.")]
    for module_name in sorted(names):
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if name.startswith("_") or not name.isupper() or type(value) not in (dict, list, set):
                continue
            if id(value) in seen:  # imported from the module that defines it
                continue
            seen.add(id(value))
            found[(module_name, name)] = type(value).__name__
    return found


def test_no_public_constant_is_a_plain_dict_list_or_set():
    found = mutable_constants()
    unexpected = {key: kind for key, kind in found.items() if key not in PENDING}
    assert not unexpected, "make these MappingProxyType / tuple / frozenset: " + ", ".join(
        f"{module}.{name} ({kind})" for (module, name), kind in sorted(unexpected.items()))
    fixed = sorted(set(PENDING) - set(found))
    assert not fixed, f"no longer plain containers, delete from PENDING: {fixed}"


def test_frozen_tables_still_copy_and_read_as_before():
    from alonet.phantom.patterns import PATTERNS

    assert list(PATTERNS)[0] == "none" and abs(sum(PATTERNS.values()) - 1.0) < 1e-9
    copy = dict(PATTERNS)
    copy["none"] = 0.0
    assert PATTERNS["none"] == 0.05
    try:
        PATTERNS["none"] = 0.0  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("PATTERNS can be changed in place")
