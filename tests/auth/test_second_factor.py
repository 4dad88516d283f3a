"""TOTP enrolment and sign-in: codes, no replay, recovery codes used once, and the
secret sealed at rest."""

import sqlite3

import pyotp
import pytest

from mailward.core.errors import AuthError, InvalidInput
from mailward.core.principal import Protocol
from support import DOMAIN, PASSWORD, World

ALICE = f"alice@{DOMAIN}"


def enrol(world: World) -> tuple[str, list[str]]:
    sf = world.rt.logins.second_factor
    assert sf is not None
    account = world.users["alice"].account_id
    secret, uri = sf.start(account, ALICE)
    assert uri.startswith("otpauth://totp/") and "issuer=mailward" in uri
    with pytest.raises(InvalidInput):
        sf.confirm(account, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    codes = sf.confirm(account, pyotp.TOTP(secret).now())
    return secret, codes


def test_web_sign_in_needs_the_code_once_on(world: World) -> None:
    secret, _codes = enrol(world)
    logins = world.rt.logins
    with pytest.raises(AuthError):
        logins.login(ALICE, PASSWORD, protocol=Protocol.WEB)  # no code
    with pytest.raises(AuthError):
        logins.login(ALICE, PASSWORD, protocol=Protocol.WEB, code="123456")
    reasons = [e.reason for e in logins.history(world.users["alice"].account_id)[:2]]
    assert reasons == ["bad-code", "code-missing"]
    # The enrolment used the current step: the next step's code signs in.
    totp = pyotp.TOTP(secret)
    import time

    next_code = totp.at(time.time() + totp.interval)
    assert logins.login(ALICE, PASSWORD, protocol=Protocol.WEB, code=next_code)
    with pytest.raises(AuthError):  # the same code again: replay
        logins.login(ALICE, PASSWORD, protocol=Protocol.WEB, code=next_code)


def test_recovery_codes_work_once(world: World) -> None:
    _secret, codes = enrol(world)
    assert len(codes) == 10 and len(set(codes)) == 10
    logins = world.rt.logins
    assert logins.login(ALICE, PASSWORD, protocol=Protocol.API, code=codes[0])
    with pytest.raises(AuthError):
        logins.login(ALICE, PASSWORD, protocol=Protocol.API, code=codes[0])


def test_secret_is_sealed_and_codes_hashed(world: World) -> None:
    secret, codes = enrol(world)
    world.rt.close()
    dump = "\n".join(sqlite3.connect(world.rt.db.path).iterdump())
    assert secret not in dump and codes[0] not in dump and codes[0].replace("-", "") not in dump
