"""MailAccess: the one door for every read and write of mail."""

from mailward.access.changing import Changing
from mailward.access.evidence import Evidence
from mailward.access.reading import Reading
from mailward.access.searching import Searching
from mailward.access.submitting import Submitting
from mailward.access.syncing import Syncing


class MailAccess(Reading, Changing, Submitting, Evidence, Searching, Syncing):
    """The one door. Bound to one Principal at construction; no method takes an account.

    Every item and part handed out is recorded in the audit log (durably) before it
    is returned; sealed data is opened only with the served principal's own key, so
    a row of another account reached through any fault raises IsolationViolation,
    writes a refused record, and returns nothing.
    """
