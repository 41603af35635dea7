"""The web console: page routes (pages.py), static files (static.py) and its words (i18n.py).

services/gateway/routes/console.py imports these modules so that their routes join the table.
The scripts that fill the pages are in services/gateway/static/js/, the templates in
services/gateway/templates/console/.
"""
