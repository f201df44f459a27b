"""The settings loader: flags, environment, `.env`, JSON config file and `settings.toml`.

- `sources`: the environment, the `.env` file and the JSON config file, read into layers of
  raw values that remember where they came from; `flags`: the command line.
- `values`: how each kind of setting is parsed and checked; `webhooks`: webhook objects.
- `layering`: the layers stacked on the shipped defaults (Dynaconf) into server and app settings.
- `checks`: what only the whole can tell (TLS files, app manager, duplicate apps).
- `migration`: notices for settings a soketi user may misread.
- `document`: settings back to a JSON config file (`socketrush config`).

The settings themselves are plain types in `socketrush.settings`.
"""

from socketrush.config.checks import DATABASE_APP_MANAGERS, STORED_APP_MANAGERS
from socketrush.config.document import mask_store_url_password, settings_document
from socketrush.config.errors import ConfigError
from socketrush.config.flags import flag_parser
from socketrush.config.layering import DEFAULTS_FILE
from socketrush.config.load import Loaded, load, load_settings
from socketrush.config.values import Given, parse_value

__all__ = [
    "DATABASE_APP_MANAGERS",
    "DEFAULTS_FILE",
    "STORED_APP_MANAGERS",
    "ConfigError",
    "Given",
    "Loaded",
    "flag_parser",
    "load",
    "load_settings",
    "mask_store_url_password",
    "parse_value",
    "settings_document",
]
