"""Encryption at rest: the value format, key rotation, tamper and AAD checks, and config validation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from apiserver import storage
from apiserver.encryption import (
    DecryptError,
    EncryptionConfigError,
    StorageTransformers,
    ensure_config_file,
    load_config,
    new_config_text,
    parse_config,
)
from apiserver.etcd import _kv
from apiserver.main import parse_args
from kubelite.pb.etcd import kv_pb2

KEY = "/registry/secrets/default/db"
PLAIN = b'{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db"},"data":{"pw":"aHVudGVyMg=="}}'
K1, K2 = b"1" * 32, b"2" * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def config(*providers: str, resources: str = "[secrets]") -> str:
    body = "".join(f"      - {p}\n" for p in providers)
    return ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            f"  - resources: {resources}\n    providers:\n{body}")


def gcm(*keys: tuple[str, bytes]) -> str:
    return "aesgcm: {keys: [" + ", ".join(f"{{name: {n}, secret: {b64(s)}}}" for n, s in keys) + "]}"


def transformers(*providers: str) -> StorageTransformers:
    return parse_config(config(*providers), "enc.yaml")


def test_aesgcm_roundtrip_has_the_kubernetes_prefix_and_a_fresh_nonce() -> None:
    t = transformers(gcm(("key1", K1)))
    stored = t.to_storage(KEY, PLAIN)
    assert stored.startswith(b"k8s:enc:aesgcm:v1:key1:")
    payload = stored[len(b"k8s:enc:aesgcm:v1:key1:"):]
    assert len(payload) == 12 + len(PLAIN) + 16, "nonce(12) || ciphertext || tag(16)"
    assert b"aHVudGVyMg" not in stored and b"Secret" not in stored
    assert t.from_storage(KEY, stored) == (PLAIN, False)
    assert t.to_storage(KEY, PLAIN) != stored, "every write gets a new nonce"


def test_aescbc_roundtrip() -> None:
    t = transformers("aescbc: {keys: [{name: k, secret: " + b64(K1) + "}]}")
    stored = t.to_storage(KEY, PLAIN)
    assert stored.startswith(b"k8s:enc:aescbc:v1:k:")
    assert len(stored[len(b"k8s:enc:aescbc:v1:k:"):]) % 16 == 0
    assert t.from_storage(KEY, stored) == (PLAIN, False)


def test_rotation_first_key_writes_every_listed_key_reads() -> None:
    old = transformers(gcm(("key1", K1)))
    written_with_old = old.to_storage(KEY, PLAIN)
    rotated = transformers(gcm(("key2", K2), ("key1", K1)))
    assert rotated.to_storage(KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:key2:")
    assert rotated.from_storage(KEY, written_with_old) == (PLAIN, True), "old key reads, value is stale"
    # The new key listed second (step 1 of rotation): still writes with key1, reads key2 values.
    staged = transformers(gcm(("key1", K1), ("key2", K2)))
    assert staged.to_storage(KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert staged.from_storage(KEY, rotated.to_storage(KEY, PLAIN)) == (PLAIN, True)


def test_a_key_name_not_in_the_config_is_refused_by_name() -> None:
    stored = transformers(gcm(("gone", K1))).to_storage(KEY, PLAIN)
    for t in (transformers(gcm(("key1", K1))), transformers(gcm(("key1", K1)), "identity: {}")):
        with pytest.raises(DecryptError, match='aesgcm key "gone", which is not in the encryption config'):
            t.from_storage(KEY, stored)


def test_same_name_different_secret_fails_authentication() -> None:
    stored = transformers(gcm(("key1", K1))).to_storage(KEY, PLAIN)
    with pytest.raises(DecryptError, match="authentication failed"):
        transformers(gcm(("key1", K2))).from_storage(KEY, stored)


def test_tampered_ciphertext_is_refused() -> None:
    t = transformers(gcm(("key1", K1)))
    stored = bytearray(t.to_storage(KEY, PLAIN))
    stored[-20] ^= 0x01
    with pytest.raises(DecryptError, match="authentication failed"):
        t.from_storage(KEY, bytes(stored))
    with pytest.raises(DecryptError, match="too short"):
        t.from_storage(KEY, b"k8s:enc:aesgcm:v1:key1:abc")


def test_ciphertext_is_bound_to_its_storage_key() -> None:
    t = transformers(gcm(("key1", K1)))
    stored = t.to_storage(KEY, PLAIN)
    with pytest.raises(DecryptError, match="copied from another key"):
        t.from_storage("/registry/secrets/other-ns/db", stored)


def test_identity_reads_values_written_before_encryption_and_marks_them_stale() -> None:
    t = transformers(gcm(("key1", K1)), "identity: {}")
    assert t.from_storage(KEY, PLAIN) == (PLAIN, True)
    without_identity = transformers(gcm(("key1", K1)))
    with pytest.raises(DecryptError, match="no identity provider"):
        without_identity.from_storage(KEY, PLAIN)
    identity_first = transformers("identity: {}", gcm(("key1", K1)))
    assert identity_first.to_storage(KEY, PLAIN) == PLAIN, "identity first: writes decrypt (turning it off)"
    assert identity_first.from_storage(KEY, t.to_storage(KEY, PLAIN)) == (PLAIN, True)


def test_only_configured_resources_are_transformed() -> None:
    t = transformers(gcm(("key1", K1)))
    cm = "/registry/configmaps/default/db"
    assert t.to_storage(cm, PLAIN) == PLAIN
    assert t.from_storage(cm, PLAIN) == (PLAIN, False)
    assert t.to_storage("/registry/secretsx/a/b", PLAIN) == PLAIN
    assert t.prefixes == ["/registry/secrets/"]
    with pytest.raises(DecryptError, match="no encryption provider config covers it"):
        StorageTransformers().from_storage(KEY, t.to_storage(KEY, PLAIN))


def test_resource_names_follow_kubernetes_spelling() -> None:
    assert parse_config(config("identity: {}", resources="[deployments.apps]")).prefixes == ["/registry/deployments/"]
    core = parse_config(config("identity: {}", resources="['*.']")).prefixes
    assert "/registry/secrets/" in core and "/registry/deployments/" not in core
    assert "/registry/deployments/" in parse_config(config("identity: {}", resources="['*.*']")).prefixes
    first_wins = parse_config(config(gcm(("k", K1))) + "  - resources: ['*.*']\n    providers: [{identity: {}}]\n")
    assert first_wins.to_storage(KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:k:")
    assert first_wins.to_storage("/registry/configmaps/a/b", PLAIN) == PLAIN


def test_stored_kv_is_decrypted_where_the_client_parses_it() -> None:
    t = transformers(gcm(("key1", K1)))
    pb = kv_pb2.KeyValue(key=KEY.encode(), value=t.to_storage(KEY, PLAIN), mod_revision=7, create_revision=7)
    kv = _kv(pb, t)
    assert (kv.value, kv.stale, kv.error) == (PLAIN, False, "")
    assert storage.from_kv("secrets", kv).obj["data"] == {"pw": "aHVudGVyMg=="}
    bad = _kv(kv_pb2.KeyValue(key=b"/registry/secrets/x/db", value=pb.value, mod_revision=8), t)
    assert bad.value == b"" and "authentication failed" in bad.error
    with pytest.raises(ValueError, match="authentication failed"):
        storage.from_kv("secrets", bad)
    assert _kv(kv_pb2.KeyValue(key=KEY.encode(), value=b""), t).error == "", "delete events carry no value"


@pytest.mark.parametrize(("text", "field", "message"), [
    ("apiVersion: v1\nkind: EncryptionConfiguration\nresources: []\n", "apiVersion", "must be"),
    (config("identity: {}").replace("EncryptionConfiguration", "EncryptionConfig"), "kind", "must be"),
    (config("identity: {}") + "extra: 1\n", "extra", "unknown field"),
    ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n", "resources", "non-empty list"),
    (config("identity: {}", resources="[]"), "resources[0].resources", "non-empty list"),
    (config("identity: {}", resources="[secretz]"), "resources[0].resources[0]", "unknown resource 'secretz'"),
    (config("identity: {}", resources="[deployments]"), "resources[0].resources[0]", "deployments.apps"),
    (config("identity: {}", resources="[secrets, secrets]"), "resources[0].resources[1]", "already listed"),
    (config("secretbox: {keys: [{name: a, secret: " + b64(K1) + "}]}"), "resources[0].providers[0].secretbox",
     "PyNaCl"),
    (config("kms: {name: x}"), "resources[0].providers[0].kms", "not supported"),
    (config("rot13: {}"), "resources[0].providers[0].rot13", "unknown provider"),
    (config("{aesgcm: {keys: []}, identity: {}}"), "resources[0].providers[0]", "exactly one provider"),
    (config("identity: {x: 1}"), "resources[0].providers[0].identity", "takes no settings"),
    (config("aesgcm: {keys: []}"), "resources[0].providers[0].aesgcm.keys", "non-empty list"),
    (config("identity: {}", gcm(("k", b"short"))), "resources[0].providers[1].aesgcm.keys[0].secret",
     "16, 24 or 32 bytes"),
    (config("aesgcm: {keys: [{name: k, secret: '!!notbase64'}]}"), "resources[0].providers[0].aesgcm.keys[0].secret",
     "not valid base64"),
    (config("aesgcm: {keys: [{name: k}]}"), "resources[0].providers[0].aesgcm.keys[0].secret", "non-empty string"),
    (config("aesgcm: {keys: [{name: 'a:b', secret: " + b64(K1) + "}]}"),
     "resources[0].providers[0].aesgcm.keys[0].name", "must not contain ':'"),
    (config("aesgcm: {keys: [{name: k, secret: " + b64(K1) + ", extra: 1}]}"),
     "resources[0].providers[0].aesgcm.keys[0].extra", "unknown field"),
    (config(gcm(("k", K1)), gcm(("k", K2))), "resources[0].providers[1].aesgcm.keys[0].name", "already defined"),
])
def test_config_errors_name_the_file_and_the_field(text: str, field: str, message: str) -> None:
    with pytest.raises(EncryptionConfigError) as err:
        parse_config(text, "/etc/kubelite/enc.yaml")
    assert err.value.field == field
    assert str(err.value).startswith(f"/etc/kubelite/enc.yaml: {field}: ")
    assert message in str(err.value)


def test_unreadable_or_malformed_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(EncryptionConfigError, match="missing.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [\n")
    with pytest.raises(EncryptionConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    bad.write_text("")
    with pytest.raises(EncryptionConfigError, match="bad.yaml: the file is empty"):
        load_config(bad)


def test_apiserver_flag_exits_with_the_error_not_a_traceback(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(config("secretbox: {keys: []}"))
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--encryption-provider-config", str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}: resources[0].providers[0].secretbox: provider not supported" in err
    assert "Traceback" not in err
    path.write_text(config(gcm(("key1", K1))))
    args = parse_args(["--encryption-provider-config", str(path)])
    assert args.encryption.prefixes == ["/registry/secrets/"]


def test_generated_config_is_private_valid_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "data" / "encryption-config.yaml"
    assert ensure_config_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    t = load_config(path)
    assert t.to_storage(KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert t.from_storage(KEY, PLAIN) == (PLAIN, True), "Secrets stored before encryption stay readable"
    assert not ensure_config_file(path)
    assert path.read_text() == first, "an existing key must survive a second `kubelite up`"
    assert new_config_text() != new_config_text(), "every cluster gets its own random key"
