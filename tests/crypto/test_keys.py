"""Master key file, per-account keys, owner-bound sealing, and rotation."""

import os
import stat
from pathlib import Path

import pytest

from mailward.core.errors import IntegrityError
from mailward.crypto import Sealer, load_or_create_master_key
from mailward.crypto.master import read_master_key
from support import World, open_runtime


def test_master_key_created_owner_only(tmp_path: Path) -> None:
    key = load_or_create_master_key(tmp_path / "master.key")
    assert stat.S_IMODE(os.stat(key.path).st_mode) == 0o600
    assert load_or_create_master_key(tmp_path / "master.key").key == key.key
    os.chmod(key.path, 0o644)
    with pytest.raises(IntegrityError, match="owner only"):
        read_master_key(key.path)


def test_master_key_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailward.config import load_settings

    monkeypatch.setenv("MAILWARD_MASTER_KEY_FILE", str(tmp_path / "elsewhere" / "k"))
    settings = load_settings({"data": str(tmp_path / "data")})
    assert settings.master_key_path == tmp_path / "elsewhere" / "k"


def test_sealed_values_open_only_for_owner_item_and_part() -> None:
    key = os.urandom(32)
    a = Sealer("aaa", key)
    b = Sealer("bbb", os.urandom(32))
    sealed = a.seal("m1", "subject", b"secret")
    assert a.open("m1", "subject", sealed) == b"secret"
    for sealer, item, part in ((a, "m2", "subject"), (a, "m1", "body"), (b, "m1", "subject")):
        with pytest.raises(IntegrityError):
            sealer.open(item, part, sealed)
    same_key_other_owner = Sealer("bbb", key)  # even the right key fails for the wrong owner
    with pytest.raises(IntegrityError):
        same_key_other_owner.open("m1", "subject", sealed)
    with pytest.raises(IntegrityError):
        a.open("m1", "subject", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_each_account_has_its_own_key(world: World) -> None:
    conn = world.rt.db.read()
    wrapped = {r[0]: r[1] for r in conn.execute("SELECT owner, wrapped FROM data_keys")}
    ids = [u.account_id for u in world.users.values()]
    assert all(i in wrapped for i in ids)
    assert len({wrapped[i] for i in ids}) == len(ids)
    assert all(len(wrapped[i]) == 12 + 32 + 16 for i in ids)


def test_rotation_rewraps_without_reencrypting(world: World) -> None:
    item = world.deliver("alice", "before rotation", "still readable")
    alice = world.users["alice"].account_id
    blob_before = world.rt.services.blobs.get(alice, item)
    old_key = world.rt.settings.master_key_path.read_bytes()
    new = world.rt.keyring.rotate()
    assert world.rt.settings.master_key_path.read_bytes() != old_key
    assert stat.S_IMODE(os.stat(new.path).st_mode) == 0o600
    assert world.rt.services.blobs.get(alice, item) == blob_before  # messages untouched
    data = world.rt.settings.data
    world.rt.close()
    rt = open_runtime(data)
    try:
        principal = rt.logins.login("alice@example.test", "correct horse battery")
        assert rt.access(principal).get_message(item).text.strip() == "still readable"
        assert rt.verify_audit().ok
    finally:
        rt.close()


def test_rotation_interrupted_after_rewrap_is_finished_on_open(world: World) -> None:
    """A crash between re-wrapping and replacing the key file loses nothing."""
    from mailward.crypto.keys import wrap
    from mailward.crypto.master import create_master_key

    item = world.deliver("alice", "crash test")
    path = world.rt.settings.master_key_path
    pending = create_master_key(path.with_name(path.name + ".new"))
    keyring = world.rt.keyring
    with world.rt.db.write() as c:
        for owner, _kid in c.execute("SELECT owner, kid FROM data_keys").fetchall():
            key = keyring._load(owner)
            c.execute(
                "UPDATE data_keys SET kid = ?, wrapped = ? WHERE owner = ?",
                (pending.kid, wrap(pending, owner, key), owner),
            )
    data = world.rt.settings.data
    world.rt.close()  # "crash": the old key file is still in place
    rt = open_runtime(data)
    try:
        assert not pending.path.exists()
        assert read_master_key(path).kid == pending.kid
        principal = rt.logins.login("alice@example.test", "correct horse battery")
        assert rt.access(principal).get_summary(item).subject == "crash test"
    finally:
        rt.close()
