"""The fault classes drills inject (`serve --inject-fault`, `mailward drill`).

Each is a deliberately faulty variant of a feature that ships behind a flag; the
fault is live only for accounts inside that flag's rollout, so rolling the flag
back (what a guard trip does) switches the fault off.

- `wrong-join`: the last-logon banner's query joins login data to the wrong
  account (the webmail incident this project answers);
- `connection-mixup`: a reply left behind by a cancelled request is handed to the
  next request (as in a widely reported 2023 chat-service exposure);
- `shared-cache`: a page cache keyed without the user (as in a 2015 game-store
  caching incident);
- `session-mixup`: a session cache that returns another user's session record.
"""

FAULT_FLAGS = {
    "wrong-join": "last-logon",
    "connection-mixup": "fast-replies",
    "shared-cache": "page-cache",
    "session-mixup": "session-cache",
}
FAULTS = tuple(FAULT_FLAGS)
