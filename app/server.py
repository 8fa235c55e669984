"""Run the app under uvicorn: the one place that starts a server."""

from __future__ import annotations

from typing import Any

from app.settings import Settings


def serve(host: str | None = None, port: int | None = None, *, log_level: str = "info",
          **settings: Any) -> None:
    """Serve the app on ``host:port`` until interrupted (blocking).

    ``host``/``port`` default to APP_HOST/APP_PORT, else 127.0.0.1:8080. Other keywords are
    :class:`app.settings.Settings` fields (``cpu_work_ms``, ``startup_delay_s``, ``model_name``,
    ``model_path``, ``max_texts``) and win over their environment variables.

    Raises
    ------
    app.settings.SettingsError
        Before anything listens, if a value is invalid or the model file is missing.
    """
    import uvicorn

    from app.main import create_app

    resolved = Settings.from_env(host=host, port=port, **settings)
    uvicorn.run(create_app(resolved), host=resolved.host, port=resolved.port,
                log_level=log_level, access_log=False)
