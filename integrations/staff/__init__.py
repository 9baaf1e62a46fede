"""Staff accounts and sign-in, shared by the work-order pages and the escalation console.

- :mod:`integrations.staff.accounts`: ``StaffAccounts`` (argon2id passwords, roles);
- :mod:`integrations.staff.sessions`: ``SessionSigner`` (signed cookies, CSRF tokens);
- :mod:`integrations.staff.throttle`: ``SignInThrottle`` (failed sign-ins pause sign-in);
- :mod:`integrations.staff.web`: ``StaffWeb`` (sign-in pages, the guard of staff pages);
- :mod:`integrations.staff.admin`: what the ``minhu staff`` commands do.

Import from those modules: this package stays light because the migrations
import its ``models`` module.
"""

__all__: list[str] = []
