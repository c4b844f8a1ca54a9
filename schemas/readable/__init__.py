"""The readable columns (Action, Status, Additional information) in every supported language.

One source: the gettext catalogs in `locales/` and the CLDR data Babel
ships. `render.py` turns a row's stored codes and details into the three
texts in Python; the CSV export builds its SQL from the same catalogs and
numbers (`schemas/readable/sql.py`), and a test proves both agree.
"""
