"""Flask extensions, created unbound here and bound to the app in create_app()."""

from __future__ import annotations

from flask_bootstrap import Bootstrap5
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from bureau.db import Base

# Objects keep their values after commit: a session lives for one request or one task, and
# reloading every row we just wrote cost a SELECT each (measured in bench/).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
bootstrap = Bootstrap5()
