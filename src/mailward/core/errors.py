"""The one error tree. Front-ends map these to the wire in one place each.

MailwardError
├── InvalidInput          bad input from a user or client (clear message, nothing stored)
├── NotFound              no such object *for this principal* (another account's id
│                         answers exactly like an id that never existed)
├── Conflict              the object exists already / state forbids the change
├── PermissionDenied      the principal may not do this (e.g. deliver as a user)
├── AuthError             login refused (same message for unknown user and bad password)
└── IntegrityError        stored data failed a check it must pass
    └── IsolationViolation   a row of another account reached a principal's
                             request; nothing was returned, a refused audit
                             record was written
"""


class MailwardError(Exception):
    """Base of every error mailward raises on purpose."""


class InvalidInput(MailwardError):
    """The caller's input is malformed or out of bounds."""


class NotFound(MailwardError):
    """No such object for this principal."""


class Conflict(MailwardError):
    """The object already exists, or its state forbids the change."""


class LimitReached(Conflict):
    """A per-account limit (such as the number of folders) is reached."""


class PermissionDenied(MailwardError):
    """The principal is not allowed to perform this operation."""


class AuthError(MailwardError):
    """A login was refused. The message never says whether the user exists."""


class IntegrityError(MailwardError):
    """Stored data failed a check it must pass (authentication tag, chain, schema)."""


class IsolationViolation(IntegrityError):
    """Data of one account reached a request served for another; it was not returned.

    Attributes:
        served: the account the request was served for.
        owner: the account the offending row claims (may itself be wrong).
        item: the item id involved, if known.
    """

    def __init__(self, served: str, owner: str, item: str | None, detail: str) -> None:
        super().__init__(f"isolation violation: {detail} (served {served}, row owner {owner})")
        self.served = served
        self.owner = owner
        self.item = item
        self.detail = detail
