"""Finding schema templates by name or path; the loader lives in ``sheettrack.schema.template``."""

from .schema.template import builtin_dir, builtin_names, list_templates, load_template

__all__ = ["builtin_dir", "builtin_names", "list_templates", "load_template"]
