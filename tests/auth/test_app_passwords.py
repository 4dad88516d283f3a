"""App passwords: with two-factor sign-in on, the mail protocols take only them."""

from pathlib import Path

import pyotp
import pytest

from mailward.core.errors import AuthError, InvalidInput
from mailward.core.principal import Protocol
from support import DOMAIN, PASSWORD, World, build_world

ALICE = f"alice@{DOMAIN}"


def _two_factor_on(w: World) -> None:
    alice = w.users["alice"]
    second = w.rt.logins.second_factor
    assert second is not None
    secret, _uri = second.start(alice.account_id, ALICE)
    second.confirm(alice.account_id, pyotp.TOTP(secret).now())


def _reasons(w: World) -> list[str]:
    return [e.reason for e in w.rt.logins.history(w.users["alice"].account_id, 3)]


def test_with_two_factor_on_only_app_passwords_open_the_mail_protocols(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    apps = w.rt.logins.app_passwords
    assert apps is not None
    info, secret = apps.create(w.users["alice"].account_id, "Thunderbird")
    assert len(secret.replace("-", "")) == 16 and info.last_used_us is None
    # two-factor off: both work on SMTP submission
    w.rt.logins.login(ALICE, PASSWORD, protocol=Protocol.SUBMISSION)
    w.rt.logins.login(ALICE, secret, protocol=Protocol.SUBMISSION)
    _two_factor_on(w)
    with pytest.raises(AuthError) as refused:
        w.rt.logins.login(ALICE, PASSWORD, protocol=Protocol.SUBMISSION)
    assert str(refused.value) == "invalid address, password or code"  # the usual answer
    assert _reasons(w)[0] == "app-password-required"
    p = w.rt.logins.login(ALICE, secret.upper().replace("-", " "), protocol=Protocol.IMAP)
    assert p.account_id == w.users["alice"].account_id and _reasons(w)[0] == "app-password"
    assert apps.live(w.users["alice"].account_id)[0].last_used_us is not None
    with pytest.raises(AuthError):  # an app password is no way around the web's code
        w.rt.logins.login(ALICE, secret, protocol=Protocol.WEB)
    assert apps.revoke(w.users["alice"].account_id, info.id)
    with pytest.raises(AuthError):
        w.rt.logins.login(ALICE, secret, protocol=Protocol.SUBMISSION)
    with pytest.raises(AuthError):  # not another account's key either
        w.rt.logins.login(f"bob@{DOMAIN}", secret, protocol=Protocol.SUBMISSION)
    w.rt.close()


def test_only_a_hash_is_kept_and_names_are_required(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    apps = w.rt.logins.app_passwords
    assert apps is not None
    _info, secret = apps.create(w.users["bob"].account_id, "phone")
    db = (tmp_path / "data" / "mailward.db").read_bytes()
    assert secret.encode() not in db and secret.replace("-", "").encode() not in db
    with pytest.raises(InvalidInput):
        apps.create(w.users["bob"].account_id, "   ")
    w.rt.close()
