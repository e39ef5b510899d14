"""Start the Rasa core after its start-up check: ``python -m bot.serve [rasa run arguments]``.

The same as ``rasa run ARGS`` (the arguments are passed through unchanged), but first:

* beyond loopback (``-i``/``--interface`` not 127.0.0.1) or with ``DEPLOY_PROFILE=production``,
  every secret the core reads must be set (``RELAY_TOKEN``, ``ACTION_SERVER_TOKEN``,
  ``TRACKER_PII_KEY``); one message names all the missing ones;
* the HTTP API is never enabled without a token: ``--enable-api`` needs ``--auth-token``;
* with ``RASA_API_TOKEN`` set (every manifest sets it) and no ``--enable-api`` given, the HTTP
  API is turned on behind that token: the live-agent desk hands conversations back to the
  bot through it (``server/live_agent.py``).

Then it replaces itself with Rasa (``exec``), so signals and exit codes are Rasa's own.
"""

from __future__ import annotations

import os
import sys

from common.secret_env import CORE_SECRETS, MissingSecretsError, require_secrets


class CoreConfigError(RuntimeError):
    """The core's command line is unsafe."""


def _interface(args: list[str]) -> str:
    """The ``-i``/``--interface`` value of ``rasa run`` (Rasa's default is 0.0.0.0)."""
    for i, arg in enumerate(args):
        if arg in ("-i", "--interface") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--interface="):
            return arg.split("=", 1)[1]
    return "0.0.0.0"


def check(args: list[str], env: dict[str, str] | None = None) -> None:
    """Refuse an unsafe core: missing secrets off-loopback, or the HTTP API without a token.

    Raises:
        MissingSecretsError: naming every missing secret.
        CoreConfigError: ``--enable-api`` without ``--auth-token``.
    """
    env = dict(os.environ) if env is None else env
    if "--enable-api" in args and not any(a == "--auth-token" or a.startswith("--auth-token=") for a in args):
        raise CoreConfigError("Rasa core cannot start: --enable-api needs --auth-token "
                              "(the HTTP API reads and writes every conversation)")
    require_secrets("Rasa core", CORE_SECRETS, _interface(args), env)


def with_api(args: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``args`` plus the HTTP API behind ``RASA_API_TOKEN`` when that is set and the API is not asked for."""
    env = dict(os.environ) if env is None else env
    token = env.get("RASA_API_TOKEN", "").strip()
    if not token or "--enable-api" in args:
        return args
    return [*args, "--enable-api", f"--auth-token={token}"]  # one argument: a token may start with '-'


def main(argv: list[str] | None = None) -> int:
    """Check, then exec ``rasa run`` with the same arguments (and the API when its token is set)."""
    args = with_api(list(sys.argv[1:] if argv is None else argv))
    try:
        check(args)
    except (MissingSecretsError, CoreConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    os.execv(sys.executable, [sys.executable, "-m", "rasa", "run", *args])
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main())
