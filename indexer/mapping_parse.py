"""Pure parsing of the mapping file's pieces (``mapping.load_mapping`` puts them
together): table and column names, lists of values, ``require`` tables, inline tables
of names, plain sections and ``[tenants]`` with its inline tables. Each problem is added
to ``problems`` (worded for the file's author) and the parse goes on, so one start-up
error lists them all. A name is a plain identifier; the mapping is configuration, never
SQL text.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from search_svc.tenants import SearchSwitch, SearchTypes, TenantDomains, TenantSource

__all__ = ["parse_name", "parse_require", "parse_section", "parse_strings", "parse_table",
           "parse_tenants"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # fullmatch ("$" passes a final "\n")
_NOT_NAMES = frozenset({"require", "names"})  # an inline table's keys that hold no name


def parse_name(value: Any, where: str, problems: list[str],
               optional: bool = False) -> str | None:
    """``value`` as a table or column name, or None (and a problem when not ``optional``)."""
    if value is None:
        if not optional:
            problems.append(f"{where}: required (a table or column name)")
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        problems.append(f"{where}: {value!r} is not a valid column or table name")
        return None
    return value


def parse_strings(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: expected a list of strings")
        return ()
    return tuple(value)


def parse_require(value: Any, where: str,
                  problems: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{ column = ["value", ...] }`` → ((column, values), ...), every value list non-empty
    (an empty one would hide every row, surely not what was meant)."""
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a table like {{ visibility = [\"public\"] }}")
        return ()
    out = []
    for column, values in value.items():
        name = parse_name(column, where, problems)
        allowed = parse_strings(values, f"{where}.{column}", problems)
        if isinstance(values, list) and not values:
            problems.append(f"{where}.{column}: an empty list would hide every row")
        if name and allowed:
            out.append((name, allowed))
    return tuple(out)


def parse_table(cls: Any, required: tuple[str, ...], raw: dict[str, Any], where: str,
                problems: list[str]) -> Any:
    """``cls`` (a dataclass of names, and perhaps a ``require``) from an inline table of
    the mapping file: the ``required`` names, any other names given, and ``require``;
    None on a problem (each one in ``problems``)."""
    known = cls.__dataclass_fields__
    for key in raw:
        if key not in known:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key in known:
        if key in _NOT_NAMES:
            continue
        if key in required and key not in raw:
            problems.append(f"{where}.{key}: required (a table or column name)")
            values[key] = None
        elif key in required or key in raw:
            values[key] = parse_name(raw[key], f"{where}.{key}", problems)
    if "require" in known:
        values["require"] = parse_require(raw.get("require", {}), f"{where}.require", problems)
    if any(v is None for v in values.values()):
        return None
    return cls(**values)


def parse_section(raw: dict[str, Any], name: str, cls: Any, problems: list[str],
                  within: str = "") -> Any:
    """``cls`` (a dataclass of names and lists of values) from the table ``raw[name]``,
    None when there is none; ``""`` for an optional column: the table has none."""
    section = raw.get(name)
    if section is None:
        return None
    name = within + name  # as problems name it: "tenants.domains"
    if not isinstance(section, dict):
        problems.append(f"{name}: expected a [{name}] table")
        return None
    fields = cls.__dataclass_fields__
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in fields:
            problems.append(f"{name}.{key}: unknown key (known: {', '.join(sorted(fields))})")
        elif isinstance(fields[key].default, tuple):  # a list of values ("active_values")
            values[key] = parse_strings(value, f"{name}.{key}", problems)
        elif value == "" and "None" in str(fields[key].type):
            values[key] = None  # a column the schema does not have ("domain = ''")
        else:
            values[key] = parse_name(value, f"{name}.{key}", problems, optional=True)
    return cls(**values)


def parse_tenants(raw: dict[str, Any], problems: list[str]) -> TenantSource:
    """``[tenants]``, with its inline tables: ``domains``, ``search_switches`` and
    ``search_types``."""
    section = raw.get("tenants")
    inline = ({k: section.pop(k) for k in ("domains", "search_switches", "search_types")
               if k in section} if isinstance(section, dict) else {})
    tenants = parse_section(raw, "tenants", TenantSource, problems) or TenantSource()
    if "domains" in inline:  # host names in a table of their own
        domains = parse_section(inline, "domains", TenantDomains, problems, "tenants.")
        if isinstance(inline["domains"], dict) and "table" not in inline["domains"]:
            problems.append("tenants.domains.table: the table of host names is required")
        tenants = replace(tenants, domains=domains)
    if "search_switches" in inline:
        value = inline["search_switches"]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            problems.append("tenants.search_switches: expected a list of tables like "
                            "{ table = \"site_search_settings\", enabled = \"enabled\" }")
            value = []
        switches = [parse_table(SearchSwitch, ("table",), v,
                                f"tenants.search_switches[{i}]", problems)
                    for i, v in enumerate(value)]
        tenants = replace(tenants, search_switches=tuple(s for s in switches if s))
    if "search_types" in inline:
        tenants = replace(tenants, search_types=_parse_search_types(inline["search_types"],
                                                                    problems))
    return tenants


def _parse_search_types(raw: Any, problems: list[str]) -> SearchTypes | None:
    where = "tenants.search_types"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table like {{ table = \"search_settings\", "
                        "column = \"enabled_types\" }")
        return None
    names = raw.get("names", {})
    if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in names.items()):
        problems.append(f"{where}.names: expected a table of names like "
                        "{ blog_post = \"blog\" }")
        names = {}
    types: SearchTypes | None = parse_table(SearchTypes, ("table",), raw, where, problems)
    return replace(types, names=tuple(names.items())) if types else None
