"""gunicorn settings read by the Procfile (`gunicorn -c scheduler_project/gunicorn_conf.py ...`).

The command line still sets bind, workers, timeout and the access log; this file only makes sure
no log line gunicorn writes carries a secret URL (see scheduler_project/secret_urls.py).
"""

import os
import sys

from gunicorn.glogging import Logger

# gunicorn reads this file before it puts the project folder on sys.path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scheduler_project.secret_urls import MaskSecretURLs  # noqa: E402


class MaskingLogger(Logger):
    """gunicorn's logger, with secret URL segments masked in the access and the error log."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, MaskSecretURLs) for f in log.filters):
                log.addFilter(MaskSecretURLs())


logger_class = MaskingLogger
