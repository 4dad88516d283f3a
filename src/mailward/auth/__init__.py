"""Who may act: passwords, accounts and domains, and the login record.

Layout: `passwords.py` (argon2id hashing), `directory.py` (domains and accounts:
creating an account creates its data key and its special mailboxes),
`logins.py` (the login check; it records every attempt, the "last logon" data),
`second_factor.py` (TOTP and recovery codes), `app_passwords.py` (what mail
programs sign in with when two-factor sign-in is on), `sessions.py` (web/API
sessions: only a keyed hash of each token is stored, and every lookup checks the
row it got is the token's), `login_cache.py` (recent password successes of mail
programs, so a client that logs in every minute does not pay argon2id each time).

Invariants: a refused login says the same thing for an unknown address and a wrong
password, and takes the same time (a dummy hash is verified); every attempt is
recorded with time, address, remote address, protocol, client and reason. Only
successes are cached: a cached login is faster, but only for whoever already
knows the password.
"""

from mailward.auth.app_passwords import AppPasswordInfo, AppPasswords
from mailward.auth.directory import Directory
from mailward.auth.login_cache import LoginCache
from mailward.auth.logins import LoginHistory, Logins
from mailward.auth.passwords import Passwords
from mailward.auth.second_factor import SecondFactor
from mailward.auth.sessions import SessionInfo, Sessions

__all__ = [
    "AppPasswordInfo",
    "AppPasswords",
    "Directory",
    "LoginCache",
    "LoginHistory",
    "Logins",
    "Passwords",
    "SecondFactor",
    "SessionInfo",
    "Sessions",
]
