"""Templates and their rules: the columns of a sheet, one object per column type, the checks
every row passes, and the summary sheets a template asks for.

``types`` holds the column types, ``column`` a column's rules, ``core`` the ``Schema`` that
builds rows, ``summary_def`` the summary sheets, ``names`` what sheet and column names may
be, and ``template`` how templates are found and read from YAML.
"""

from ..cells import (
    col_letter,
    json_text,
    normalize,
    parse_datetime,
    show_value,
    text_length,
    to_bool,
    to_float,
    to_int,
    to_utc,
    truncate_text,
)
from ..errors import SchemaMismatchError, TemplateError, ValidationError
from .column import COLUMN_KEYS, GROUPS, Column, column_from_dict
from .core import PROVENANCE_COLUMNS, PROVENANCE_GROUPS, TEMPLATE_KEYS, PrimaryMetric, Schema
from .names import MAX_COLUMN_NAME, SHEET_NAME_BAD, check_column_name, check_keys, check_sheet_name
from .summary_def import AGGFUNCS, SUMMARY_KEYS, Summary, summary_from_dict
from .template import list_templates, load_template
from .types import (
    COLUMN_TYPES,
    TYPES,
    ColumnType,
    JsonText,
    SheettrackWarning,
    column_type,
    infer_type,
)

__all__ = [
    "AGGFUNCS", "COLUMN_KEYS", "COLUMN_TYPES", "GROUPS", "MAX_COLUMN_NAME", "PROVENANCE_COLUMNS",
    "PROVENANCE_GROUPS", "SHEET_NAME_BAD", "SUMMARY_KEYS", "TEMPLATE_KEYS", "TYPES", "Column",
    "ColumnType", "JsonText", "PrimaryMetric", "Schema", "SchemaMismatchError", "SheettrackWarning",
    "Summary", "TemplateError", "ValidationError", "check_column_name", "check_keys",
    "check_sheet_name", "col_letter", "column_from_dict", "column_type", "infer_type", "json_text",
    "list_templates", "load_template", "normalize", "parse_datetime", "show_value",
    "summary_from_dict", "text_length", "to_bool", "to_float", "to_int", "to_utc", "truncate_text",
]
